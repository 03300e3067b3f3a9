# Helpers for guest payloads (sourced before run.sh). Every check prints one line
# the host reads: "KPTEST PASS <name>" or "KPTEST FAIL <name>: <why>".
pass() { echo "KPTEST PASS $1"; }
fail() { name=$1; shift; echo "KPTEST FAIL $name: $*"; }

# check NAME COMMAND...: passes when COMMAND exits 0.
check() {
    name=$1; shift
    if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "'$*' failed: $(echo "$out" | tail -n 3)"; fi
}
# expect_eq NAME ACTUAL EXPECTED
expect_eq() {
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got '$2', expected '$3'"; fi
}
# expect_match NAME TEXT REGEX (grep -E)
expect_match() {
    if printf '%s\n' "$2" | grep -qE "$3"; then pass "$1"; else fail "$1" "'$2' does not match /$3/"; fi
}
# wait_for SECONDS COMMAND...: retries every 0.2 s until COMMAND succeeds.
wait_for() {
    limit=$1; shift
    i=0
    while [ $i -lt $((limit * 5)) ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2; i=$((i + 1))
    done
    return 1
}
