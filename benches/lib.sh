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

# port_free PORT [IP...]: nothing listens on PORT, UDP or TCP. With IPs:
# nothing on one of them nor on a wildcard address; without: on no address.
port_free() {
    local port=$1 addr ip
    shift
    while read -r addr; do
        [[ -n $addr ]] || continue
        (($# == 0)) && return 1
        case ${addr%:*} in 0.0.0.0 | '*' | '[::]') return 1 ;; esac
        for ip in "$@"; do [[ ${addr%:*} == "$ip" ]] && return 1; done
    done < <(ss -Hlnut "sport = :$port" 2>/dev/null | awk '{ print $5 }')
    return 0
}

# apt_install PKG...: install Debian packages quietly, waiting up to 300 s
# for the dpkg lock, without letting their services start (a policy-rc.d
# that refuses, unless one is there already: invoke-rc.d honours it), so a
# packaged resolver or NSD never takes port 53 from the run.
apt_install() {
    local policy=/usr/sbin/policy-rc.d made_policy=0 rc=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
    fi
    apt-get -o DPkg::Lock::Timeout=300 update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
            "$@" >/dev/null || rc=$?
    if ((made_policy)); then rm -f "$policy"; fi
    return "$rc"
}
