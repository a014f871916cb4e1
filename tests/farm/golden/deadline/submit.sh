#!/bin/sh
# Submit each shot's prepare -> render -> publish jobs to Deadline 10.
cd "$(dirname "$0")" || exit 1
: "${DEADLINE_COMMAND:=deadlinecommand}"
"$DEADLINE_COMMAND" -SubmitMultipleJobs -Dependent -Job sh010/prepare.job_info.job sh010/prepare.plugin_info.job -Job sh010/render.job_info.job sh010/render.plugin_info.job -Job sh010/publish.job_info.job sh010/publish.plugin_info.job || exit 1
"$DEADLINE_COMMAND" -SubmitMultipleJobs -Dependent -Job sh020/prepare.job_info.job sh020/prepare.plugin_info.job -Job sh020/render.job_info.job sh020/render.plugin_info.job -Job sh020/publish.job_info.job sh020/publish.plugin_info.job || exit 1
