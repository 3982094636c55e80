# shellcheck shell=bash
# The local stack's background processes, one helper for every part (kafka, k8s, the real
# node, the platform's services). Sourced by common.sh, never run.
#
# Each process is NAME in a folder DIR: DIR/NAME.pid holds its pid, DIR/NAME.log its output.
# None is a child of the script that stops it (the starting script has exited), so stopping
# polls /proc until the process is gone.

# proc_running PID: the process exists and is not a zombie awaiting its reaper.
proc_running() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

# proc_gone PID: the process no longer runs (a zombie counts as gone).
proc_gone() { ! proc_running "$1"; }

# proc_pid DIR NAME [MATCH]: prints the pid in DIR/NAME.pid and succeeds when that process
# runs and its command line contains MATCH (default DIR: every part passes paths in its
# folder), so a pid the kernel gave to another process since is never taken for ours.
# MATCH '' skips the command-line check.
proc_pid() {
    local dir=$1 name=$2 pid
    local match=${3-$dir}
    [[ -s $dir/$name.pid ]] || return 1
    pid=$(<"$dir/$name.pid")
    [[ $pid =~ ^[0-9]+$ ]] && proc_running "$pid" || return 1
    if [[ -n $match ]]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$match" || return 1
    fi
    printf '%s\n' "$pid"
}

# proc_is_running DIR NAME [MATCH]: proc_pid without the output.
proc_is_running() { proc_pid "$@" >/dev/null; }

# proc_spawn [--umask MODE] DIR NAME COMMAND...: starts COMMAND in the background, output
# appended to DIR/NAME.log, and returns once DIR/NAME.pid names it (dies after 10 s).
# setsid gives it its own session, like pg_ctl gives the postmaster, so a ^C or hangup of
# the caller (a test harness, a terminal) does not reach it. The inner shell writes its own
# pid before exec'ing COMMAND, so the pid file names COMMAND whether or not setsid forked.
proc_spawn() {
    local umask_mode=""
    if [[ $1 == --umask ]]; then
        umask_mode=$2
        shift 2
    fi
    local dir=$1 name=$2
    shift 2
    rm -f "$dir/$name.pid"
    # shellcheck disable=SC2016 # expanded by the inner shell
    setsid nohup bash -c '[[ -z $1 ]] || umask "$1"; echo $$ >"$2"; shift 2; exec "$@"' \
        _ "$umask_mode" "$dir/$name.pid" "$@" </dev/null >>"$dir/$name.log" 2>&1 &
    wait_for "$name's pid file" 10 test -s "$dir/$name.pid" || die "$name did not launch; see $dir/$name.log"
}

# proc_stop DIR NAME GRACE [MATCH] [SIGNAL]: sends SIGNAL (TERM) to our NAME if it runs,
# waits GRACE seconds for it to go, then KILLs it and waits 10 s more (dies if it survives).
# The pid file goes either way. Returns 1 when it was not running.
proc_stop() {
    local dir=$1 name=$2 grace=$3 signal=${5:-TERM} pid
    local match=${4-$dir}
    if ! pid=$(proc_pid "$dir" "$name" "$match"); then
        rm -f "$dir/$name.pid"
        return 1
    fi
    kill -s "$signal" "$pid" 2>/dev/null || true
    if ! wait_for "$name to stop" "$grace" proc_gone "$pid"; then
        log "$name (pid $pid) still runs ${grace}s after $signal; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        wait_for "$name to die" 10 proc_gone "$pid" || die "$name (pid $pid) survived KILL"
    fi
    rm -f "$dir/$name.pid"
}
