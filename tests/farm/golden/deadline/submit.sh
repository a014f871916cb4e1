#!/bin/sh
# Submit each shot's prepare -> render -> publish jobs to Deadline 10, each shot once:
# when Deadline accepts a shot's three jobs, its answer (with the job ids) is kept in
# <shot>/submitted.txt, and running this script again skips that shot. After a failure,
# fix the cause and run it again: only the shots not yet submitted are sent.
cd "$(dirname "$0")" || exit 1
: "${DEADLINE_COMMAND:=deadlinecommand}"
failed=0
submit() {  # submit SHOT JOB_ARGUMENTS...
    shot=$1
    shift
    if [ -f "$shot/submitted.txt" ]; then
        echo "$shot: already submitted (delete $shot/submitted.txt to submit it again)"
        return 0
    fi
    "$DEADLINE_COMMAND" -SubmitMultipleJobs -Dependent "$@" > "$shot/submit.log" 2>&1
    status=$?
    cat "$shot/submit.log"
    if [ "$status" -ne 0 ] || [ "$(grep -c '^JobID=' "$shot/submit.log")" -lt 3 ]; then
        echo "$shot: submission failed; run this script again to retry it" >&2
        return 1
    fi
    mv "$shot/submit.log" "$shot/submitted.txt"
}
submit sh010 -Job sh010/prepare.job_info.job sh010/prepare.plugin_info.job shots/sh010.toml -Job sh010/render.job_info.job sh010/render.plugin_info.job shots/sh010.toml -Job sh010/publish.job_info.job sh010/publish.plugin_info.job shots/sh010.toml || failed=1
submit sh020 -Job sh020/prepare.job_info.job sh020/prepare.plugin_info.job shots/sh020.toml -Job sh020/render.job_info.job sh020/render.plugin_info.job shots/sh020.toml -Job sh020/publish.job_info.job sh020/publish.plugin_info.job shots/sh020.toml || failed=1
exit "$failed"
