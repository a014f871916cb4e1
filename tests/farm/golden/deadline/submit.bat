@echo off
rem Submit each shot's prepare -> render -> publish jobs to Deadline 10.
cd /d "%~dp0"
if "%DEADLINE_COMMAND%"=="" set DEADLINE_COMMAND=deadlinecommand
"%DEADLINE_COMMAND%" -SubmitMultipleJobs -Dependent -Job sh010\prepare.job_info.job sh010\prepare.plugin_info.job -Job sh010\render.job_info.job sh010\render.plugin_info.job -Job sh010\publish.job_info.job sh010\publish.plugin_info.job || exit /b 1
"%DEADLINE_COMMAND%" -SubmitMultipleJobs -Dependent -Job sh020\prepare.job_info.job sh020\prepare.plugin_info.job -Job sh020\render.job_info.job sh020\render.plugin_info.job -Job sh020\publish.job_info.job sh020\publish.plugin_info.job || exit /b 1
