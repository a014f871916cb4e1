@echo off
rem Submit each shot's prepare -> render -> publish jobs to Deadline 10, each shot once:
rem when Deadline accepts a shot's three jobs, its answer (with the job ids) is kept in
rem <shot>\submitted.txt, and running this script again skips that shot. After a failure,
rem fix the cause and run it again: only the shots not yet submitted are sent.
setlocal
cd /d "%~dp0"
if "%DEADLINE_COMMAND%"=="" set DEADLINE_COMMAND=deadlinecommand
set failed=0
call :submit sh010 "-Job sh010\prepare.job_info.job sh010\prepare.plugin_info.job shots\sh010.toml" "-Job sh010\render.job_info.job sh010\render.plugin_info.job shots\sh010.toml" "-Job sh010\publish.job_info.job sh010\publish.plugin_info.job shots\sh010.toml" || set failed=1
call :submit sh020 "-Job sh020\prepare.job_info.job sh020\prepare.plugin_info.job shots\sh020.toml" "-Job sh020\render.job_info.job sh020\render.plugin_info.job shots\sh020.toml" "-Job sh020\publish.job_info.job sh020\publish.plugin_info.job shots\sh020.toml" || set failed=1
exit /b %failed%

:submit
if exist "%1\submitted.txt" (
    echo %1: already submitted ^(delete %1\submitted.txt to submit it again^)
    exit /b 0
)
set shot=%1
shift
"%DEADLINE_COMMAND%" -SubmitMultipleJobs -Dependent %~1 %~2 %~3 > "%shot%\submit.log" 2>&1
set status=%errorlevel%
type "%shot%\submit.log"
set count=0
for /f %%n in ('findstr /b /c:"JobID=" "%shot%\submit.log" ^| find /c /v ""') do set count=%%n
if not "%status%"=="0" goto submit_failed
if %count% lss 3 goto submit_failed
move /y "%shot%\submit.log" "%shot%\submitted.txt" >nul
exit /b 0
:submit_failed
echo %shot%: submission failed; run this script again to retry it 1>&2
exit /b 1
