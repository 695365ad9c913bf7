#!/usr/bin/env bash
# Interop suite: lastgood against NSD serving zones signed by BIND's
# dnssec-signzone (see tests/interop/README.md).
#
# Root (ECDSA P-256, NSEC), lab. (RSASHA256, NSEC3 without salt or extra
# iterations), example.lab. (ECDSA P-256, NSEC) and the unsigned
# insecure.lab. are signed here with BIND's tools and served by three NSD
# processes on 127.54.0.1-3. lastgood resolves through them from root hints
# and the root DS; the checks cover secure answers, NSEC and NSEC3 denial, an
# insecure delegation, and two breaks made with BIND's tools: a ZSK that signs
# the data but is missing from the DNSKEY set (the .de 2026 case) and a KSK
# that replaced the one the parent's DS names.
#
# Issue 15 adds a DNAME (NSD synthesises the CNAME) into the signed lab.
# and the unsigned insecure.lab., and a forward-all setup: a second lastgood
# forwarding "." to the first, validating from the same root anchor.
#
# Environment: NSD_PORT, RESOLVER_PORT, CONTROL_PORT, FORWARD_PORT,
# FORWARD_CONTROL_PORT (must be free);
# LASTGOOD=path skips `cargo build --release` and uses that binary;
# KEEP_WORKDIR=1 keeps the temp dir (zones, keys, logs) for inspection;
# VERBOSE=1 prints every answer.
set -euo pipefail

NSD_PORT=${NSD_PORT:-53540}
RESOLVER_PORT=${RESOLVER_PORT:-53541}
CONTROL_PORT=${CONTROL_PORT:-53542}
FORWARD_PORT=${FORWARD_PORT:-53543}
FORWARD_CONTROL_PORT=${FORWARD_CONTROL_PORT:-53544}
ROOT_IP=127.54.0.1
LAB_IP=127.54.0.2
LEAF_IP=127.54.0.3
# Data TTL and SOA minimum: short, so stale behaviour is reachable in real time.
TTL=4

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin"

log() { printf '# %s\n' "$*"; }
die() {
    printf 'interop: setup failed: %s\n' "$*" >&2
    exit 2
}

# --- processes and cleanup -------------------------------------------------

WORK=""
declare -A NSD_PID=()
RESOLVER_PID=""
FORWARD_PID=""

stop_pid() { # PID: TERM, wait up to 5 s, then KILL
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$? name
    trap - EXIT INT TERM
    if [[ -n $RESOLVER_PID ]]; then stop_pid "$RESOLVER_PID"; fi
    if [[ -n $FORWARD_PID ]]; then stop_pid "$FORWARD_PID"; fi
    for name in "${!NSD_PID[@]}"; do stop_pid "${NSD_PID[$name]}"; done
    if [[ -n $WORK && -d $WORK ]]; then
        if [[ ${KEEP_WORKDIR:-0} == 1 || $rc -ne 0 ]]; then
            log "work dir kept: $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. tools ----------------------------------------------------------------

install_tools() {
    local missing=()
    command -v nsd >/dev/null || missing+=(nsd)
    command -v dnssec-signzone >/dev/null || missing+=(bind9-utils)
    command -v dig >/dev/null || missing+=(bind9-dnsutils)
    ((${#missing[@]} == 0)) && return 0
    log "installing ${missing[*]}"
    # Keep the distro's nsd service from starting (and taking port 53).
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    if ((made_policy)); then rm -f "$policy"; fi
    command -v nsd >/dev/null && command -v dnssec-signzone >/dev/null &&
        command -v dig >/dev/null || die "nsd, dnssec-signzone or dig still missing"
}

port_free() { # PORT: nothing listens on it over UDP or TCP
    [[ -z $(ss -Hlnut "sport = :$1" 2>/dev/null) ]]
}

install_tools
for p in "$NSD_PORT" "$RESOLVER_PORT" "$CONTROL_PORT" "$FORWARD_PORT" "$FORWARD_CONTROL_PORT"; do
    port_free "$p" || die "port $p is in use (set NSD_PORT/RESOLVER_PORT/CONTROL_PORT)"
done

# --- 3 (first, so a broken build stops us early). lastgood -------------------

if [[ -n ${LASTGOOD:-} ]]; then
    LG=$LASTGOOD
else
    log "cargo build --release"
    (cd "$REPO" && cargo build --release --quiet) || die "cargo build failed"
    LG=$REPO/target/release/lastgood
fi
[[ -x $LG ]] || die "no lastgood binary at $LG"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lastgood-interop.XXXXXX")
mkdir -p "$WORK/keys" "$WORK/ds" "$WORK/zones"
cd "$WORK"

# --- 2. zones, keys, signing -------------------------------------------------

write_zones() {
    local soa="3600 600 86400 $TTL"
    cat >zones/root.zone <<EOF
\$TTL $TTL
.                       IN SOA a.root-servers.lab. hostmaster.lab. 1 $soa
.                       IN NS  a.root-servers.lab.
lab.                    IN NS  ns1.lab.
ns1.lab.                IN A   $LAB_IP
a.root-servers.lab.     IN A   $ROOT_IP
EOF
    cat >zones/lab.zone <<EOF
\$TTL $TTL
lab.                    IN SOA ns1.lab. hostmaster.lab. 1 $soa
lab.                    IN NS  ns1.lab.
ns1.lab.                IN A   $LAB_IP
a.root-servers.lab.     IN A   $ROOT_IP
www.lab.                IN A   127.54.1.1
new.lab.                IN A   127.54.1.2
txt.lab.                IN TXT "lab. is signed by dnssec-signzone"
*.wild.lab.             IN A   127.54.1.99
example.lab.            IN NS  ns1.example.lab.
ns1.example.lab.        IN A   $LEAF_IP
insecure.lab.           IN NS  ns1.insecure.lab.
ns1.insecure.lab.       IN A   $LEAF_IP
sha1.lab.               IN NS  ns1.sha1.lab.
ns1.sha1.lab.           IN A   $LEAF_IP
unk.lab.                IN NS  ns1.unk.lab.
ns1.unk.lab.            IN A   $LEAF_IP
unkonly.lab.            IN NS  ns1.unkonly.lab.
ns1.unkonly.lab.        IN A   $LAB_IP
EOF
    cat >zones/example.lab.zone <<EOF
\$TTL $TTL
example.lab.            IN SOA ns1.example.lab. hostmaster.example.lab. 1 $soa
example.lab.            IN NS  ns1.example.lab.
ns1.example.lab.        IN A   $LEAF_IP
www.example.lab.        IN A   127.54.2.1
host1.example.lab.      IN A   127.54.2.11
host2.example.lab.      IN A   127.54.2.12
alias.example.lab.      IN CNAME www.example.lab.
*.wild.example.lab.     IN A   127.54.2.99
EOF
    cat >zones/insecure.lab.zone <<EOF
\$TTL $TTL
insecure.lab.           IN SOA ns1.insecure.lab. hostmaster.insecure.lab. 1 $soa
insecure.lab.           IN NS  ns1.insecure.lab.
ns1.insecure.lab.       IN A   $LEAF_IP
www.insecure.lab.       IN A   127.54.3.1
EOF
    # Issue 15: an RSASHA1 zone, and two zones whose DS set in lab. has an
    # unknown algorithm (200) beside the real DS (unk.) or alone (unkonly.,
    # served by lab.'s own server, so the parent answers for the child).
    local z ip
    for z in sha1 unk unkonly; do
        ip=$LEAF_IP
        [[ $z == unkonly ]] && ip=$LAB_IP
        cat >"zones/$z.lab.zone" <<EOF
\$TTL $TTL
$z.lab.    IN SOA ns1.$z.lab. hostmaster.$z.lab. 1 $soa
$z.lab.    IN NS  ns1.$z.lab.
ns1.$z.lab. IN A  $ip
www.$z.lab. IN A  127.54.4.1
EOF
    done
}

# Issue 15: DNAMEs in example.lab. (RFC 6672), into the signed lab. and
# the unsigned insecure.lab.; NSD synthesises the CNAME.
add_dnames() {
    cat >>zones/example.lab.zone <<EOF
sdname.example.lab.     IN DNAME lab.
dname.example.lab.      IN DNAME insecure.lab.
EOF
}

keygen() { # ZONE ALG [KSK]: prints the key's base name (keys/K...)
    local zone=$1 alg=$2 ksk=${3:-} bits=()
    [[ $alg == RSASHA256 || $alg == RSASHA1 ]] && { [[ -n $ksk ]] && bits=(-b 2048) || bits=(-b 1024); }
    local base
    base=$(dnssec-keygen -q -K keys -a "$alg" "${bits[@]}" ${ksk:+-f KSK} -n ZONE "$zone") ||
        die "dnssec-keygen $zone $alg"
    printf 'keys/%s\n' "$base"
}

# sign ZONE FILE OUT KSK ZSK [DNSKEY-KEYS...] [-- extra dnssec-signzone args]
# The DNSKEY RRset published is the listed DNSKEY-KEYS (default: KSK and ZSK);
# the data is signed by ZSK, the DNSKEY RRset by KSK (and ZSK unless -x).
sign() {
    local zone=$1 file=$2 out=$3 ksk=$4 zsk=$5
    shift 5
    local published=() extra=()
    while (($#)) && [[ $1 != -- ]]; do published+=("$1") && shift; done
    (($#)) && shift && extra=("$@")
    ((${#published[@]})) || published=("$ksk" "$zsk")
    local input="$WORK/zones/$zone.input"
    cat "zones/$file" >"$input"
    local k
    for k in "${published[@]}"; do cat "$k.key" >>"$input"; done
    # The children's DS sets (dsset-CHILD. written when the child was signed).
    case $zone in
        .) cat ds/dsset-lab. >>"$input" ;;
        lab.)
            cat ds/dsset-example.lab. ds/dsset-sha1.lab. ds/dsset-unk.lab. >>"$input"
            # An algorithm nobody implements (200), beside the real DS and alone.
            local fake=4242424242424242424242424242424242424242424242424242424242424242
            printf 'unk.lab. IN DS 4242 200 2 %s\n' "$fake" >>"$input"
            printf 'unkonly.lab. IN DS 4242 200 2 %s\n' "$fake" >>"$input"
            ;;
    esac
    local nsec=()
    [[ $zone == lab. ]] && nsec=(-3 - -H 0)
    dnssec-signzone -q -d ds "${nsec[@]}" "${extra[@]}" -o "$zone" -k "$ksk.key" \
        -f "zones/$out" "$input" "$zsk.key" >"$WORK/signzone.log" 2>&1 ||
        { cat "$WORK/signzone.log" >&2; die "dnssec-signzone $zone"; }
}

log "signing zones with dnssec-signzone (children first)"
write_zones
add_dnames
LEAF_KSK=$(keygen example.lab. ECDSAP256SHA256 ksk)
LEAF_ZSK=$(keygen example.lab. ECDSAP256SHA256)
LAB_KSK=$(keygen lab. RSASHA256 ksk)
LAB_ZSK=$(keygen lab. RSASHA256)
ROOT_KSK=$(keygen . ECDSAP256SHA256 ksk)
ROOT_ZSK=$(keygen . ECDSAP256SHA256)
sign example.lab. example.lab.zone example.lab.good "$LEAF_KSK" "$LEAF_ZSK"
sign sha1.lab. sha1.lab.zone sha1.lab.signed "$(keygen sha1.lab. RSASHA1 ksk)" \
    "$(keygen sha1.lab. RSASHA1)"
for z in unk unkonly; do
    sign "$z.lab." "$z.lab.zone" "$z.lab.signed" "$(keygen "$z.lab." ECDSAP256SHA256 ksk)" \
        "$(keygen "$z.lab." ECDSAP256SHA256)"
done
sign lab. lab.zone lab.good "$LAB_KSK" "$LAB_ZSK"
sign . root.zone root.signed "$ROOT_KSK" "$ROOT_ZSK"
cp zones/example.lab.good zones/example.lab.signed
cp zones/lab.good zones/lab.signed
# The trust anchor: the root's DS as dnssec-signzone wrote it.
cp ds/dsset-. root.ds
cat >root.hints <<EOF
.                       3600000 IN NS a.root-servers.lab.
a.root-servers.lab.     3600000 IN A  $ROOT_IP
EOF

# --- NSD ---------------------------------------------------------------------

nsd_conf() { # NAME IP ZONE...
    local name=$1 ip=$2 z
    shift 2
    mkdir -p "nsd-$name"
    {
        cat <<EOF
server:
    ip-address: $ip
    port: $NSD_PORT
    do-ip6: no
    username: ""
    chroot: ""
    zonesdir: "$WORK/zones"
    database: ""
    pidfile: "$WORK/nsd-$name/nsd.pid"
    xfrdfile: "$WORK/nsd-$name/xfrd.state"
    zonelistfile: "$WORK/nsd-$name/zone.list"
    logfile: "$WORK/nsd-$name/nsd.log"
    server-count: 1
    verbosity: 1
remote-control:
    control-enable: no
EOF
        for z in "$@"; do
            local file=${z%.}.signed
            [[ $z == . ]] && file=root.signed
            [[ $z == insecure.lab. ]] && file=insecure.lab.zone
            printf 'zone:\n    name: "%s"\n    zonefile: "%s"\n' "$z" "$file"
        done
    } >"nsd-$name/nsd.conf"
}

wait_soa() { # IP ZONE: up to 10 s for an authoritative SOA
    local deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)); do
        if dig +norec +time=1 +tries=1 @"$1" -p "$NSD_PORT" "$2" SOA 2>/dev/null |
            grep -q 'flags: qr aa'; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

start_nsd() { # NAME IP ZONE (the zone waited for)
    local name=$1 ip=$2 zone=$3
    nsd -d -c "nsd-$name/nsd.conf" >>"nsd-$name/stdout.log" 2>&1 &
    NSD_PID[$name]=$!
    wait_soa "$ip" "$zone" || { cat "nsd-$name/nsd.log" >&2 || true; die "nsd $name did not answer"; }
}

restart_nsd() { # NAME IP ZONE: load a re-signed zone
    stop_pid "${NSD_PID[$1]}"
    start_nsd "$@"
}

nsd_conf root "$ROOT_IP" .
nsd_conf lab "$LAB_IP" lab. unkonly.lab.
nsd_conf leaf "$LEAF_IP" example.lab. insecure.lab. sha1.lab. unk.lab.
for n in root lab leaf; do nsd-checkconf "nsd-$n/nsd.conf" || die "nsd-checkconf nsd-$n/nsd.conf"; done
log "starting nsd on $ROOT_IP $LAB_IP $LEAF_IP port $NSD_PORT"
start_nsd root "$ROOT_IP" .
start_nsd lab "$LAB_IP" lab.
start_nsd leaf "$LEAF_IP" example.lab.

# --- 3. lastgood -------------------------------------------------------------

cat >lastgood.toml <<EOF
control-listen = "127.0.0.1:$CONTROL_PORT"
control-socket = "$(pwd)/control.sock"
failure-recheck = "2s"
EOF
log "starting lastgood on 127.0.0.1:$RESOLVER_PORT"
"$LG" serve -c lastgood.toml --listen "127.0.0.1:$RESOLVER_PORT" --root-hints root.hints \
    --trust-anchor root.ds --upstream-port "$NSD_PORT" >lastgood.log 2>&1 &
RESOLVER_PID=$!
up=0
for ((i = 0; i < 50; i++)); do
    if "$LG" query -s "127.0.0.1:$RESOLVER_PORT" lab. SOA 2>/dev/null | grep -q '^;; status:'; then
        up=1 && break
    fi
    kill -0 "$RESOLVER_PID" 2>/dev/null || break
    sleep 0.2
done
((up)) || { cat lastgood.log >&2; die "lastgood did not answer"; }

# --- 4. checks ---------------------------------------------------------------

PASSED=0
FAILED=0
OUT=""

CLIENT=lastgood # or dig: BIND's client parses our flags and EDEs
ask() { # NAME TYPE: the answer in $OUT (lastgood query's format)
    if [[ $CLIENT == dig ]]; then
        ask_dig "$@"
    else
        OUT=$(timeout 10 "$LG" query -s "127.0.0.1:$RESOLVER_PORT" "$1" "$2" 2>&1) || true
    fi
}
ask_dig() { # NAME TYPE: dig's answer, rewritten to lastgood query's format
    local raw
    raw=$(dig +dnssec +time=5 +tries=1 @127.0.0.1 -p "$RESOLVER_PORT" "$1" "$2" 2>&1) || true
    OUT=$(
        sed -n 's/^;; ->>HEADER<<-.* status: \([A-Z]*\), id: \([0-9]*\).*/;; status: \1, id: \2, /p' <<<"$raw" |
            tr -d '\n'
        sed -n 's/^;; flags: \([a-z ]*\);.*/flags: \1/p' <<<"$raw"
        sed -n 's/^; EDE: \([0-9]*\)\(.*\)/;; EDE: \1:\2/p' <<<"$raw"
        echo ";; ANSWER SECTION:"
        sed -n '/^;; ANSWER SECTION:/,/^$/p' <<<"$raw" | sed '1d;/^$/d'
        echo ";; DIG SECTION:"
        sed 's/^/; /' <<<"$raw"
    )
}
status_of() { sed -n 's/^;; status: \([A-Z]*\),.*/\1/p' <<<"$OUT" | head -n1; }
flags_of() { sed -n 's/^;; status: .*flags: //p' <<<"$OUT" | head -n1; }
edes_of() { sed -n 's/^;; EDE: \([0-9]*\):.*/\1/p' <<<"$OUT" | sort -n | tr '\n' ' ' | sed 's/ $//'; }
answer_of() { sed -n '/^;; ANSWER SECTION:/,/^;; [A-Z]* SECTION:/p' <<<"$OUT"; }

# expect DESCRIPTION NAME TYPE RCODE AD EDES [DATA [EDE-TEXT]]
#   AD: ad | noad | any. EDES: "none", "any" (at least one) or codes that
#   must all be present ("3 9"). DATA: text the answer section must contain;
#   EDE-TEXT: text an EDE must contain (e.g. the key tag at fault).
expect() {
    local desc=$1 name=$2 type=$3 rcode=$4 ad=$5 edes=$6 data=${7:-} ede_text=${8:-}
    ask "$name" "$type"
    local why=() st flags got
    st=$(status_of)
    flags=" $(flags_of) "
    got=$(edes_of)
    [[ $st == "$rcode" ]] || why+=("rcode $st, want $rcode")
    case $ad in
        ad) [[ $flags == *" ad "* ]] || why+=("no ad") ;;
        noad) [[ $flags != *" ad "* ]] || why+=("ad set") ;;
    esac
    case $edes in
        none) [[ -z $got ]] || why+=("EDE $got, want none") ;;
        any) [[ -n $got ]] || why+=("no EDE") ;;
        *) for c in $edes; do
            [[ " $got " == *" $c "* ]] || why+=("EDE [$got], want $c")
        done ;;
    esac
    if [[ -n $data ]] && ! answer_of | grep -qF -- "$data"; then why+=("answer lacks $data"); fi
    if [[ -n $ede_text ]] && ! grep '^;; EDE: ' <<<"$OUT" | grep -qwF -- "$ede_text"; then
        why+=("no EDE text with '$ede_text'")
    fi
    if ((${#why[@]} == 0)); then
        PASSED=$((PASSED + 1))
        printf 'ok - %s (%s %s: %s, flags:%s%s)\n' "$desc" "$name" "$type" "$st" "${flags% }" \
            "$(sed -n 's/^;; EDE: /, EDE /p' <<<"$OUT" | tr -d '\n')"
        if [[ ${VERBOSE:-0} == 1 ]]; then sed 's/^/#   /' <<<"$OUT"; fi
    else
        FAILED=$((FAILED + 1))
        local IFS=';'
        printf 'not ok - %s (%s %s: %s)\n' "$desc" "$name" "$type" "${why[*]}"
        sed 's/^/#   /' <<<"$OUT"
    fi
}

is_fresh() { # the last answer: NOERROR, ad, no EDE
    [[ $(status_of) == NOERROR && " $(flags_of) " == *" ad "* && -z $(edes_of) ]]
}

# wait_not_fresh NAME TYPE: poll (bounded by 3 TTLs) until the cached answer
# expires and the resolver stops answering fresh and validated.
wait_not_fresh() {
    local i
    for ((i = 0; i < TTL * 3 * 5; i++)); do
        ask "$1" "$2"
        is_fresh || return 0
        sleep 0.2
    done
}

# wait_fresh NAME TYPE: poll (bounded by 20 s) until fresh and validated again.
wait_fresh() {
    local i
    for ((i = 0; i < 100; i++)); do
        ask "$1" "$2"
        is_fresh && return 0
        sleep 0.2
    done
}

# Issue 15: forward everything. A second lastgood forwards "." to the first
# (RD=1, CD=1) and validates from the same root anchor: AD for signed data,
# none for the unsigned zone, NXDOMAIN proofs, DNAME.
forward_all_checks() {
    cat >forward.toml <<EOF
control-listen = "127.0.0.1:$FORWARD_CONTROL_PORT"
control-socket = "$(pwd)/forward.sock"

[[forward-zone]]
name = "."
addrs = ["127.0.0.1:$RESOLVER_PORT"]
EOF
    log "starting a forward-all lastgood on 127.0.0.1:$FORWARD_PORT"
    "$LG" serve -c forward.toml --listen "127.0.0.1:$FORWARD_PORT" \
        --trust-anchor root.ds >forward.log 2>&1 &
    FORWARD_PID=$!
    local i up=0 saved=$RESOLVER_PORT
    for ((i = 0; i < 50; i++)); do
        if "$LG" query -s "127.0.0.1:$FORWARD_PORT" lab. SOA 2>/dev/null | grep -q '^;; status:'; then
            up=1 && break
        fi
        sleep 0.2
    done
    ((up)) || { cat forward.log >&2; die "forward-all lastgood did not answer"; }
    RESOLVER_PORT=$FORWARD_PORT
    expect "forward-all: secure answer with ad" www.example.lab. A NOERROR ad none 127.54.2.1
    expect "forward-all: secure answer in the NSEC3 zone" www.lab. A NOERROR ad none 127.54.1.1
    expect "forward-all: NSEC3 NXDOMAIN with ad" nope.lab. A NXDOMAIN ad none
    expect "forward-all: NSEC NODATA with ad" www.example.lab. AAAA NOERROR ad none
    expect "forward-all: insecure zone without ad" www.insecure.lab. A NOERROR noad none 127.54.3.1
    expect "forward-all: DNAME into lab. with ad" www.sdname.example.lab. A NOERROR ad none 127.54.1.1
    RESOLVER_PORT=$saved
    stop_pid "$FORWARD_PID"
    FORWARD_PID=""
}

log "healthy hierarchy"
expect "secure answer in example.lab. (ECDSA, NSEC)" www.example.lab. A NOERROR ad none 127.54.2.1
expect "secure answer in lab. (RSASHA256, NSEC3)" www.lab. A NOERROR ad none 127.54.1.1
expect "secure CNAME chain in example.lab." alias.example.lab. A NOERROR ad none 127.54.2.1
expect "secure DNSKEY RRset of lab." lab. DNSKEY NOERROR ad none DNSKEY
expect "NSEC3 NXDOMAIN in lab." nope.lab. A NXDOMAIN ad none
expect "NSEC3 NODATA in lab." www.lab. TXT NOERROR ad none
expect "NSEC NXDOMAIN in example.lab." nope.example.lab. A NXDOMAIN ad none
expect "NSEC NODATA in example.lab." www.example.lab. AAAA NOERROR ad none
expect "insecure delegation: no ad" www.insecure.lab. A NOERROR noad none 127.54.3.1
expect "DNAME into the signed lab.: ad" www.sdname.example.lab. A NOERROR ad none 127.54.1.1
expect "DNAME answer carries the DNAME" www.sdname.example.lab. A NOERROR ad none DNAME
expect "DNAME into the unsigned insecure.lab.: no ad" www.dname.example.lab. A NOERROR noad none 127.54.3.1
CLIENT=dig
expect "dig: DNAME, synthesised CNAME and target" www.sdname.example.lab. A NOERROR ad none $'IN\tCNAME\twww.lab.'
expect "dig: the DNAME itself" www.sdname.example.lab. A NOERROR ad none $'IN\tDNAME\tlab.'

expect "dig: secure answer with ad" www.lab. A NOERROR ad none 127.54.1.1
expect "dig: insecure answer without ad" www.insecure.lab. A NOERROR noad none 127.54.3.1
CLIENT=lastgood
forward_all_checks

# Issue 15: algorithms, proofs for downstream validators.
log "algorithms and downstream validation (issue 15)"
expect "RSASHA1 zone is insecure by default (EDE 1)" www.sha1.lab. A NOERROR noad 1 127.54.4.1
expect "unknown-algorithm DS beside a known one: secure" www.unk.lab. A NOERROR ad none 127.54.4.1
expect "unknown-algorithm DS alone: insecure (EDE 1)" www.unkonly.lab. A NOERROR noad 1 127.54.4.1
expect "wildcard answer in example.lab." x.wild.example.lab. A NOERROR ad none 127.54.2.99

# delv (BIND's validating stub) validates what lastgood sends: the wildcard
# answer with its NSEC proof, NXDOMAIN and NODATA proofs, and a CNAME chain.
awk '{ for (i = 1; i <= NF; i++) if ($i == "DS") {
        d = ""; for (j = i + 4; j <= NF; j++) d = d $j
        printf "trust-anchors { . static-ds %s %s %s \"%s\"; };\n", $(i + 1), $(i + 2), $(i + 3), d
    } }' root.ds >delv.anchor
delv_check() { # DESCRIPTION NAME TYPE: delv must say "(negative response,) fully validated"
    local out
    out=$(timeout 20 delv -a delv.anchor +root=. @127.0.0.1 -p "$RESOLVER_PORT" "$2" "$3" 2>&1) || true
    if grep -q 'fully validated' <<<"$out"; then
        PASSED=$((PASSED + 1))
        printf 'ok - delv: %s (%s %s)\n' "$1" "$2" "$3"
    else
        FAILED=$((FAILED + 1))
        printf 'not ok - delv: %s (%s %s)\n' "$1" "$2" "$3"
        sed 's/^/#   /' <<<"$out"
    fi
}
delv_check "wildcard answer with its NSEC proof" y.wild.example.lab. A
delv_check "wildcard answer with its NSEC3 proof" y.wild.lab. A
delv_check "NSEC NXDOMAIN" nope.example.lab. A
delv_check "NSEC NODATA" www.example.lab. AAAA
delv_check "NSEC3 NXDOMAIN" nope.lab. A
delv_check "CNAME chain" alias.example.lab. A

# sha1-algorithms = "validate": the RSASHA1 zone becomes secure (reload).
printf 'sha1-algorithms = "validate"\n' >>lastgood.toml
"$LG" reload -c lastgood.toml >/dev/null || { FAILED=$((FAILED + 1)) && echo "not ok - reload"; }
wait_fresh www.sha1.lab. A
expect "RSASHA1 zone validates with sha1-algorithms = validate" www.sha1.lab. A NOERROR ad none 127.54.4.1
delv_check "RSASHA1 zone through lastgood" www.sha1.lab. A
sed -i '/^sha1-algorithms/d' lastgood.toml
"$LG" reload -c lastgood.toml >/dev/null || { FAILED=$((FAILED + 1)) && echo "not ok - reload"; }

# Break 1: lab. re-signed by a new ZSK whose DNSKEY is not published. The
# zone file keeps the old DNSKEY set {KSK, ZSK}; dnssec-signzone signs the
# data with ZSK2 only, the DNSKEY RRset with the KSK only (-x), and -P skips
# its own verification, which would (rightly) refuse this zone.
log "break 1: lab. data signed by a ZSK missing from DNSKEY"
LAB_ZSK2=$(keygen lab. RSASHA256)
ZSK2_TAG="key tag $((10#${LAB_ZSK2##*+}))"
sign lab. lab.zone lab.signed "$LAB_KSK" "$LAB_ZSK2" "$LAB_KSK" "$LAB_ZSK" -- -P -x
ask www.lab. A && ask www.example.lab. A # last fresh look before the break
restart_nsd lab "$LAB_IP" lab.
wait_not_fresh www.lab. A
expect "break 1: cached name answered stale" www.lab. A NOERROR ad "3 9" 127.54.1.1 "$ZSK2_TAG"
wait_not_fresh www.example.lab. A
expect "break 1: cached name below lab. answered stale" www.example.lab. A NOERROR ad "3 9" 127.54.2.1
CLIENT=dig
expect "break 1, dig: stale answer with EDE 3 and 9" www.lab. A NOERROR ad "3 9" 127.54.1.1
CLIENT=lastgood
expect "break 1: never-cached name is SERVFAIL with EDE" new.lab. A SERVFAIL noad 9 "" "$ZSK2_TAG"
CLIENT=dig
expect "break 1, dig: SERVFAIL with EDE 9" new.lab. A SERVFAIL noad 9
CLIENT=lastgood
log "break 1 repaired"
cp zones/lab.good zones/lab.signed
restart_nsd lab "$LAB_IP" lab.
wait_fresh www.lab. A
expect "break 1 repaired: fresh and secure again" www.lab. A NOERROR ad none 127.54.1.1
wait_fresh new.lab. A # its own failure window may outlast the zone's
expect "break 1 repaired: never-cached name now resolves" new.lab. A NOERROR ad none 127.54.1.2

# Break 2: example.lab. re-signed under a new KSK; the DS in lab. still names
# the old one.
log "break 2: example.lab. KSK replaced without a DS update"
LEAF_KSK2=$(keygen example.lab. ECDSAP256SHA256 ksk)
DS_TAG="key tag $((10#${LEAF_KSK##*+}))"
sign example.lab. example.lab.zone example.lab.signed "$LEAF_KSK2" "$LEAF_ZSK"
wait_fresh www.example.lab. A # last fresh look before the break
restart_nsd leaf "$LEAF_IP" example.lab.
wait_not_fresh www.example.lab. A
expect "break 2: cached name answered stale" www.example.lab. A NOERROR ad "3 9" 127.54.2.1 "$DS_TAG"
expect "break 2: never-cached name is SERVFAIL with EDE" host2.example.lab. A SERVFAIL noad 9 "" "$DS_TAG"
expect "break 2: sibling insecure.lab. unaffected" www.insecure.lab. A NOERROR noad none 127.54.3.1
log "break 2 repaired"
cp zones/example.lab.good zones/example.lab.signed
restart_nsd leaf "$LEAF_IP" example.lab.
wait_fresh www.example.lab. A
expect "break 2 repaired: fresh and secure again" www.example.lab. A NOERROR ad none 127.54.2.1
wait_fresh host2.example.lab. A # its own failure window may outlast the zone's
expect "break 2 repaired: never-cached name now resolves" host2.example.lab. A NOERROR ad none 127.54.2.12

kill -0 "$RESOLVER_PID" 2>/dev/null || { FAILED=$((FAILED + 1)) && echo "not ok - lastgood exited"; }
echo "interop: $PASSED passed, $FAILED failed"
((FAILED == 0))
