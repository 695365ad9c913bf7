# Sourced by benches/incident.sh and docker/incident.sh (issue 21): the
# incident replay's settings, its per-phase tables, its chart and the short
# run's bounds, so the host benchmark and the compose testbed report one
# incident the same way. Not a script of its own.
#
# A run's results directory RESULTS holds, per resolver NAME,
# RESULTS/NAME/queries.csv.gz (`lastgood incident-client`), timeline.txt and
# upstream.csv (`lastgood lab-incident`). The functions read the globals
# RESULTS and COMPRESSION, SIGNED, UNSIGNED, RATE, ZIPF (chart title), the
# bounds below, and call log().

# incident_short_defaults: the short run's scale (400 + 100 children, the
# whole timeline compressed 360x: about 50 s, 100 queries/s) for what the
# environment does not set; incident_defaults after it fills the rest.
incident_short_defaults() {
    : "${COMPRESSION:=360}" "${SIGNED:=400}" "${UNSIGNED:=100}" "${RATE:=100}"
}

# incident_defaults: the full run's settings and the short run's bounds
# (benches/README.md), for what the environment does not set.
incident_defaults() {
    : "${COMPRESSION:=60}" "${SIGNED:=2000}" "${UNSIGNED:=500}" "${RATE:=200}"
    : "${CLIENTS:=4}" "${ZIPF:=1.0}" "${NEW_SHARE:=0.05}" "${SEED:=1}"
    : "${MAX_SERVFAIL_BEFORE_NTA:=0.25}" "${MIN_SEEN_ANSWERED:=0.99}" "${MIN_AFTER_NTA:=0.99}"
}

# phase_ms DIR PHASE: the unix ms of PHASE in DIR/timeline.txt.
phase_ms() { awk -v p="$2" '$1 == p { print $2 }' "$1/timeline.txt"; }

# --- tables ------------------------------------------------------------------------
#
# Phases: before = [start, break), break = [break, nta), nta = [nta, fix),
# fixed = [fix, end). Shares are of all queries sent in the phase; `seen`
# restricts to names asked before the break. Upstream: queries received by
# the three TLD instances during the phase, per client query.

summarise() { # NAME: writes RESULTS/NAME/summary.txt, prints the table rows
    local d=$RESULTS/$1 p c ok st sf to wr sn sa upq p99 seen
    zcat "$d/queries.csv.gz" | awk -F, -v tl="$d/timeline.txt" -v up="$d/upstream.csv" -v r="$1" '
        BEGIN {
            while ((getline line < tl) > 0) { split(line, a, " "); T[a[1]] = a[2] }
            n = 0
            while ((getline line < up) > 0) {
                if (line ~ /^unix_ms/) continue
                split(line, a, ","); n++; UT[n] = a[1]; UQ[n] = a[3]
            }
            split("before break nta fixed", P, " ")
            S["before"] = T["start"]; E["before"] = T["break"]
            S["break"] = T["break"]; E["break"] = T["nta"]
            S["nta"] = T["nta"]; E["nta"] = T["fix"]
            S["fixed"] = T["fix"]; E["fixed"] = T["end"]
        }
        function tld_at(t,   i) { for (i = n; i >= 1; i--) if (UT[i] <= t) return UQ[i]; return 0 }
        NR > 1 {
            t = $1; p = ""
            for (k = 1; k <= 4; k++) if (t >= S[P[k]] && t < E[P[k]]) p = P[k]
            if (p == "") next
            N[p]++; O[p, $10]++
            if ($5 == 1 && $4 == "www") { SN[p]++; if ($10 == "ok" || $10 == "stale") SA[p]++ }
            print p, $9 > LAT
        }
        END {
            for (k = 1; k <= 4; k++) {
                p = P[k]
                printf "%s %s %d %d %d %d %d %d %d %d %d\n", r, p, N[p], O[p, "ok"], O[p, "stale"], \
                    O[p, "servfail"], O[p, "timeout"], O[p, "wrong"], SN[p], SA[p], tld_at(E[p]) - tld_at(S[p])
            }
        }' LAT="$d/latency.txt" >"$d/summary.txt"
    while read -r _ p c ok st sf to wr sn sa upq; do
        p99=$(awk -v p="$p" '$1 == p { print $2 }' "$d/latency.txt" | sort -g |
            awk '{ v[NR] = $1 } END { i = int(0.99 * NR + 0.999999); if (i < 1) i = 1; if (NR) printf "%.1f", v[i]; else print "-" }')
        awk -v r="$1" -v p="$p" -v c="$c" -v ok="$ok" -v st="$st" -v sf="$sf" -v to="$to" -v wr="$wr" \
            -v sn="$sn" -v sa="$sa" -v upq="$upq" -v p99="$p99" 'BEGIN {
            split("before:before the break,break:break before NTA,nta:after NTA,fixed:after fix", L, ",")
            for (i in L) { split(L[i], kv, ":"); NAME[kv[1]] = kv[2] }
            if (c == 0) { printf "| %s | %s | 0 | - | - | - | - | - | - | - | - |\n", r, NAME[p]; exit }
            seen = sn > 0 ? sprintf("%.2f%% of %d", 100 * sa / sn, sn) : "-"
            printf "| %s | %s | %d | %.2f%% | %.2f%% | %.2f%% | %.2f%% | %.2f%% | %s | %s | %.3f |\n", \
                r, NAME[p], c, 100 * ok / c, 100 * st / c, 100 * sf / c, 100 * to / c, 100 * wr / c, seen, p99, upq / c
        }'
    done <"$d/summary.txt"
    gzip -f "$d/latency.txt"
}

# incident_tables NAME...: RESULTS/table.md, one row per resolver and phase.
incident_tables() {
    local r
    {
        echo "| resolver | phase | queries | NOERROR correct (fresh) | stale (EDE 3/19) | SERVFAIL | unanswered | other/wrong | seen-before-break names answered with data | p99 latency (ms) | TLD queries per client query |"
        echo "|---|---|---|---|---|---|---|---|---|---|---|"
        for r in "$@"; do
            summarise "$r"
        done
    } >"$RESULTS/table.md"
}

# --- chart -------------------------------------------------------------------------
#
# Per resolver: outcome shares per BIN real seconds (stacked), x in incident
# minutes since the break; the lab's broken share of the TLD's signed
# RRsets as a line; break, NTA and fix marked.

minutes_after_break() { # DIR PHASE
    awk -v a="$(phase_ms "$1" "$2")" -v b="$(phase_ms "$1" break)" -v c="$COMPRESSION" \
        'BEGIN { printf "%.1f", (a - b) / 1000 * c / 60 }'
}

# incident_chart NAME...: RESULTS/incident.png (gnuplot), one panel per resolver.
incident_chart() {
    local r d brk first NTA_X FIX_X STALE_X PANELS BIN_MS
    BIN_MS=$((300000 / COMPRESSION)) # 5 incident minutes
    for r in "$@"; do
        d=$RESULTS/$r
        brk=$(phase_ms "$d" break)
        zcat "$d/queries.csv.gz" | awk -F, -v b="$brk" -v e="$(phase_ms "$d" end)" -v bin="$BIN_MS" -v c="$COMPRESSION" '
            NR > 1 && $1 < e { k = int(($1 - b) / bin) - ($1 < b ? 1 : 0); N[k]++; O[k, $10]++; if (k < lo) lo = k; if (k > hi) hi = k }
            END {
                for (k = lo; k <= hi; k++) if (N[k] > 0) {
                    x = (k + 0.5) * bin / 1000 * c / 60
                    ok = O[k, "ok"] / N[k]; st = ok + O[k, "stale"] / N[k]; sf = st + O[k, "servfail"] / N[k]
                    to = sf + O[k, "timeout"] / N[k]
                    printf "%.2f %.4f %.4f %.4f %.4f 1\n", x, ok, st, sf, to
                }
            }' >"$d/chart.dat"
        awk -F, -v b="$brk" -v c="$COMPRESSION" 'NR > 1 { printf "%.2f %s\n", ($1 - b) / 1000 * c / 60, $5 }' \
            "$d/upstream.csv" >"$d/broken.dat"
    done
    first=$RESULTS/$1
    NTA_X=$(minutes_after_break "$first" nta)
    FIX_X=$(minutes_after_break "$first" fix)
    STALE_X=$(minutes_after_break "$first" stale_instance_end)
    PANELS=$#
    {
        echo "set terminal pngcairo size 1200,$((330 * PANELS + 60)) font 'sans,10'"
        echo "set output '$RESULTS/incident.png'"
        echo "set multiplot layout $PANELS,1 title 'de-lab. signer break replayed ($SIGNED signed + $UNSIGNED unsigned children, ${RATE} q/s, Zipf $ZIPF, compression ${COMPRESSION}x)'"
        echo "set xlabel 'incident minutes since the break'"
        echo "set ylabel 'share of client queries'"
        echo "set yrange [0:1.05]"
        echo "set key outside right"
        echo "set style fill solid 0.8 noborder"
        for x in 0 "$NTA_X" "$FIX_X" "$STALE_X"; do
            echo "set arrow from $x, graph 0 to $x, graph 1 nohead dt 2 lc rgb 'black'"
        done
        echo "set label 'break' at 0, graph 0.04 left offset 0.5,0 front"
        echo "set label 'NTA' at $NTA_X, graph 0.04 left offset 0.5,0 front"
        echo "set label 'fix' at $FIX_X, graph 0.04 left offset 0.5,0 front"
        echo "set label 'ns3 re-signs' at $STALE_X, graph 0.04 left offset 0.5,0 front"
        for r in "$@"; do
            d=$RESULTS/$r
            echo "set title '$r'"
            echo "plot '$d/chart.dat' using 1:(0):2 with filledcurves lc rgb '#2ca02c' title 'NOERROR correct', \\"
            echo "  '' using 1:2:3 with filledcurves lc rgb '#1f77b4' title 'stale', \\"
            echo "  '' using 1:3:4 with filledcurves lc rgb '#d62728' title 'SERVFAIL', \\"
            echo "  '' using 1:4:5 with filledcurves lc rgb '#ff7f0e' title 'unanswered', \\"
            echo "  '' using 1:5:6 with filledcurves lc rgb '#7f7f7f' title 'other', \\"
            echo "  '$d/broken.dat' using 1:2 with lines lw 2 lc rgb 'black' title 'broken share of TLD RRsets (ns1, ns2)'"
        done
        echo "unset multiplot"
    } >"$RESULTS/incident.gp"
    gnuplot "$RESULTS/incident.gp" || log "gnuplot failed (see $RESULTS/incident.gp)"
}

# incident_notes WHERE BINARY: RESULTS/notes.md (the run's conditions), then
# prints the table, the notes and where the chart and results are.
incident_notes() {
    {
        echo
        echo "Conditions: $(nproc) cores; $1."
        echo "$SIGNED signed + $UNSIGNED unsigned children, compression ${COMPRESSION}x, $CLIENTS clients,"
        echo "$RATE queries/s offered, Zipf s=$ZIPF, never-seen share $NEW_SHARE, seed $SEED."
        echo "lastgood binary $2; load average at the end $(cut -d' ' -f1-3 /proc/loadavg)."
    } >"$RESULTS/notes.md"
    cat "$RESULTS/table.md" "$RESULTS/notes.md"
    echo "chart: $RESULTS/incident.png"
    echo "results: $RESULTS"
}

# --- the short run's bounds (CI) ---------------------------------------------------

# incident_check_bounds NAME: 0 if NAME's shares (RESULTS/NAME/summary.txt,
# written by incident_tables) are within the bounds, else 1 with a line per
# bound missed.
incident_check_bounds() {
    local s=$RESULTS/$1/summary.txt c sf sn sa c2 ok2 st2 fail wrong
    read -r _ _ c _ _ sf _ _ sn sa _ < <(awk '$2 == "break"' "$s")
    read -r _ _ c2 ok2 st2 _ < <(awk '$2 == "nta"' "$s")
    fail=0
    awk -v s="$sf" -v c="$c" -v m="$MAX_SERVFAIL_BEFORE_NTA" 'BEGIN { exit !(c > 0 && s / c <= m) }' ||
        { log "FAIL: $1 SERVFAIL share between break and NTA $sf/$c > $MAX_SERVFAIL_BEFORE_NTA"; fail=1; }
    awk -v a="$sa" -v n="$sn" -v m="$MIN_SEEN_ANSWERED" 'BEGIN { exit !(n > 0 && a / n >= m) }' ||
        { log "FAIL: $1 answered $sa of $sn seen names between break and NTA (< $MIN_SEEN_ANSWERED)"; fail=1; }
    awk -v a="$((ok2 + st2))" -v n="$c2" -v m="$MIN_AFTER_NTA" 'BEGIN { exit !(n > 0 && a / n >= m) }' ||
        { log "FAIL: $1 answered $((ok2 + st2)) of $c2 after the NTA (< $MIN_AFTER_NTA)"; fail=1; }
    wrong=$(awk '{ s += $8 } END { print s + 0 }' "$s")
    ((wrong == 0)) || { log "FAIL: $1 gave $wrong answers with data other than the child's"; fail=1; }
    ((fail)) && return 1
    log "short run: $1 within bounds"
}
