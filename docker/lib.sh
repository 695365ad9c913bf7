# Sourced by the testbed scripts (scenario.sh, fleet.sh, incident.sh). Not a
# script of its own.

# compose_setup: sets compose_cmd to `docker compose` (v2) or, failing that,
# `docker-compose` (1.29); returns 1 if neither is there.
compose_setup() {
    if docker compose version >/dev/null 2>&1; then
        compose_cmd=(docker compose)
    elif command -v docker-compose >/dev/null 2>&1; then
        compose_cmd=(docker-compose)
    else
        return 1
    fi
}
