# Sourced by the bench scripts: what each of them needs to stop what it
# started. Not a script of its own.

# stop_pid PID: TERM, then wait up to STOP_WAIT_TENTHS tenths of a second
# (default 50: 5 s) for it to end, then KILL; reaps it if it is our child.
# An empty PID or one already gone is not an error.
stop_pid() {
    local pid=$1 i
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < ${STOP_WAIT_TENTHS:-50}; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
