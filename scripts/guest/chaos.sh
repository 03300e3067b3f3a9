# The chaos loop's guest side (scripts/chaos copies it into the payload; run.sh sets
# CHAOS_ITERATIONS and CHAOS_SEED and sources it). Each iteration starts from a system
# fully patched or fully unpatched, starts `kpatchctl apply` (when unpatched) or
# `kpatchctl revert` (when patched) and kills it with SIGKILL after a random delay.
# Random choices come from a 31-bit LCG (glibc's constants) seeded with CHAOS_SEED:
# the patch (livepatch_sum: kpvictim's fix.diff, a transition of about a second;
# livepatch_waitmsg: wait-message.diff), whether a reader asleep in kpvictim's wait
# path holds the transition up (asleep in the old kpvictim_wait_show for apply, in
# the new one for revert), --timeout (1-3 s when held up, so the kill can land in the
# reversal), tracefs probes or --no-trace, and the delay before the kill.
#
# After each kill:
#   - the moment is named from what the kernel shows (/sys/kernel/livepatch, /proc/modules);
#   - `kpatchctl status` must say what sysfs and /proc/modules say (patch, enabled,
#     transition and its direction, the dead holder, a module left without its patch),
#     and status --json's lock record must name the killed pid as not running;
#   - the reader is released, and `kpatchctl revert` (anything half-done, or at
#     random a patch fully applied) or `kpatchctl apply` (at random, when nothing is
#     loaded) must exit 0 without saying another kpatchctl holds the lock (the
#     documented "died holding the transition lock; taking it over" note is expected
#     whenever the killed one had taken it);
#   - the system is then fully patched (enabled, no transition, object patched, module
#     live, new behaviour) or fully unpatched (no sysfs entry, no module, old
#     behaviour), the lock file is empty, no tracefs probe is left and status agrees.
# Prints "CHAOS iter ..." per iteration, "CHAOS moment <name> <count>" and a summary.
: "${CHAOS_ITERATIONS:=15}" "${CHAOS_SEED:=1}"

lp=/sys/kernel/livepatch
tracing=/sys/kernel/tracing
now() { cut -d' ' -f1 /proc/uptime; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

rng=$CHAOS_SEED
# rand N: sets r to a number in [0, N).
rand() { rng=$(( (rng * 1103515245 + 12345) % 2147483648 )); r=$(( (rng / 65536) % $1 )); }

insmod /payload/kpvictim.ko || { fail chaos-setup "insmod kpvictim"; return 1; }
record_cmd_before=$(cat $tracing/options/record-cmd 2>/dev/null)

reader=""
start_reader() {
    cat /proc/kpvictim_wait > /tmp/reader.out 2>&1 & reader=$!
    wait_for 5 grep -q kpvictim_wait_release /proc/$reader/stack
}
release_reader() {
    [ -n "$reader" ] || return 0
    echo go > /proc/kpvictim_release; wait $reader; reader=""
}
# behaviour NAME: "new" or "old", from a fresh task.
behaviour() {
    case $1 in
        livepatch_sum) grep -q 'sum(1..10) = 55' /proc/kpvictim && echo new || echo old ;;
        *) start_reader; echo go > /proc/kpvictim_release; wait $reader; reader=""
           [ "$(cat /tmp/reader.out)" = "released (patched)" ] && echo new || echo old ;;
    esac
}
module_state() { awk -v m="$1" '$1 == m { print $5 }' /proc/modules; }
# snapshot NAME: "dir=<enabled><transition>|- mod=<Live|Loading|Unloading>|-"
snapshot() {
    if [ -d $lp/$1 ]; then d="$(cat $lp/$1/enabled 2>/dev/null)$(cat $lp/$1/transition 2>/dev/null)"; else d=-; fi
    m=$(module_state "$1"); echo "dir=$d mod=${m:--}"
}
lock_record() { head -n 1 /run/kpatchctl/lock 2>/dev/null; }
probes_left() { [ -e $tracing/instances/kpatchctl ] || grep -q kpatchctl $tracing/kprobe_events 2>/dev/null; }

# status_truthful ITER NAME PID: status (text and JSON) against sysfs and /proc/modules,
# read before and after it (retried when the kernel moved in between).
status_truthful() {
    it=$1 name=$2 pid=$3 tries=0
    while :; do
        s1=$(snapshot "$name"); st=$(kpatchctl status 2>&1); js=$(kpatchctl status --json 2>&1); s2=$(snapshot "$name")
        [ "$s1" = "$s2" ] && break
        tries=$((tries + 1)); [ $tries -lt 5 ] || { fail chaos-status-$it "sysfs keeps changing: $s1 / $s2"; return 1; }
        sleep 0.3
    done
    why=""
    case $s1 in
        "dir=1"?*|"dir=0"?*)
            d=${s1#dir=}; d=${d%% *}
            [ "${d%?}" = 1 ] && want="^$name: enabled" || want="^$name: disabled"
            printf '%s\n' "$st" | grep -qE "$want" || why="$why; no '$want'"
            printf '%s\n' "$st" | grep -qE "^  kpvictim \\(patched\\)" || why="$why; kpvictim not shown patched"
            if [ "${d#?}" = 1 ]; then
                [ "${d%?}" = 1 ] && dir=patching || dir=unpatching
                printf '%s\n' "$st" | grep -qE "^  transition: $dir" || why="$why; no 'transition: $dir'"
                printf '%s\n' "$st" | grep -qE "started by kpatchctl (apply|revert) $name \\(pid $pid\\), which died" \
                    || why="$why; the dead holder (pid $pid) is not named"
            else
                printf '%s\n' "$st" | grep -q "^  transition:" && why="$why; a transition shown, sysfs has none"
            fi ;;
        "dir=- mod=-")
            printf '%s\n' "$st" | grep -qx "no livepatch loaded" || why="$why; not 'no livepatch loaded'" ;;
        *)
            printf '%s\n' "$st" | grep -qE "^$name: module loaded, no patch in $lp" || why="$why; the module left loaded is not shown" ;;
    esac
    holder=$(lock_record)
    if [ -n "$holder" ]; then
        # This kill's pid, or an earlier killed one whose record no command replaced yet.
        case " $killed " in *" $holder "*) ;; *) why="$why; lock file names pid $holder, not a killed kpatchctl" ;; esac
        printf '%s\n' "$js" | grep -q "\"lock\":{\"holder\":{\"pid\":$holder,\"purpose\":\"[a-z]* [a-z_]*\"},\"running\":false}" \
            || why="$why; status --json does not name the dead holder $holder"
    else
        printf '%s\n' "$js" | grep -q '"lock":' && why="$why; status --json names a holder, the lock file has none"
    fi
    if [ -n "$why" ]; then fail chaos-status-$it "after kill ($s1):$why; status: $(printf '%s' "$st" | tr '\n' '|')"; return 1; fi
    return 0
}

# settled ITER NAME: fully patched or fully unpatched, and status says which. Sets final.
settled() {
    it=$1 name=$2 s=$(snapshot "$2") st=$(kpatchctl status 2>&1) b=$(behaviour "$2")
    case "$s" in
        "dir=10 mod=Live")
            final=patched
            [ "$(cat $lp/$name/kpvictim/patched)" = 1 ] || { fail chaos-settled-$it "$name: kpvictim not patched"; return 1; }
            [ "$b" = new ] || { fail chaos-settled-$it "$name enabled but the old code runs"; return 1; }
            printf '%s\n' "$st" | grep -q "^$name: enabled" && ! printf '%s\n' "$st" | grep -q "^  transition:" \
                || { fail chaos-settled-$it "status: $(printf '%s' "$st" | tr '\n' '|')"; return 1; } ;;
        "dir=- mod=-")
            final=unpatched
            [ "$b" = old ] || { fail chaos-settled-$it "$name gone but the new code runs"; return 1; }
            printf '%s\n' "$st" | grep -qx "no livepatch loaded" \
                || { fail chaos-settled-$it "status: $(printf '%s' "$st" | tr '\n' '|')"; return 1; } ;;
        *) fail chaos-settled-$it "$name neither patched nor unpatched: $s"; return 1 ;;
    esac
    others=$(ls $lp | grep -vx "$name"); [ -z "$others" ] || { fail chaos-settled-$it "other patches: $others"; return 1; }
    return 0
}

current=""      # the patch applied, or empty
moments="" killed="" ok=0 kills=0 finished=0 recoveries=0 takeovers=0 start=$(now)
n=0   # not i: kptest.sh's wait_for uses i
while [ $n -lt "$CHAOS_ITERATIONS" ]; do
    n=$((n + 1)); t0=$(now)
    rand 2; [ $r = 0 ] && flag="" || flag="--no-trace"
    if [ -z "$current" ]; then
        op=apply; rand 2; [ $r = 0 ] && name=livepatch_sum || name=livepatch_waitmsg
    else
        op=revert; name=$current
    fi
    held=0; [ $name = livepatch_waitmsg ] && { rand 2; held=$r; }
    if [ $held = 1 ]; then rand 3; timeout=$((r + 1)); max=$(( (timeout + 4) * 1000 )); else timeout=30; max=4000; fi
    rand $max; delay=$r
    [ $held = 1 ] && start_reader
    if [ $op = apply ]; then
        kpatchctl apply $flag --timeout $timeout /payload/$name.ko > /tmp/op.out 2>&1 & pid=$!
    else
        kpatchctl revert $flag --timeout $timeout $name > /tmp/op.out 2>&1 & pid=$!
    fi
    sleep "$(awk -v d=$delay 'BEGIN { printf "%.3f", d / 1000 }')"
    kill -9 $pid 2>/dev/null; wait $pid; rc=$?
    s=$(snapshot $name)
    if [ $rc = 137 ]; then
        kills=$((kills + 1)) killed="$killed $pid"
        case "$op $s" in
            "apply dir=- mod=-") moment=apply:before-load ;;
            "apply dir=- mod=Loading"|"apply dir=1"?" mod=Loading") moment=apply:during-load ;;
            "apply dir=11 "*) moment=apply:patching ;;
            "apply dir=01 "*) moment=apply:reversing ;;
            "apply dir=10 "*) moment=apply:patched-before-exit ;;
            "apply dir=- "*) moment=apply:reversed-before-unload ;;
            "revert dir=10 "*) moment=revert:before-disable ;;
            "revert dir=01 "*) moment=revert:unpatching ;;
            "revert dir=11 "*) moment=revert:re-enabling ;;
            "revert dir=- mod=-") moment=revert:unloaded-before-exit ;;
            "revert dir=- "*) moment=revert:unpatched-before-unload ;;
            *) moment="$op:other($s)" ;;
        esac
    else
        finished=$((finished + 1)); moment="$op:exited-rc$rc"
        case $rc in 0|4) ;; *) fail chaos-iter-$n "$op $name exited $rc before the kill: $(tail -n 3 /tmp/op.out)"; break ;; esac
    fi
    moments="$moments $moment"
    if [ $rc = 137 ] && ! status_truthful $n $name $pid; then break; fi
    release_reader

    # Recovery: revert whatever is half-done; a patch fully applied is kept or reverted,
    # an unpatched system left so or patched again, at random.
    s=$(snapshot $name) recovery=none
    case "$s" in
        "dir=10 mod=Live") rand 2; [ $r = 0 ] && recovery=revert ;;
        "dir=- mod=-") rand 2; [ $r = 0 ] && recovery=apply ;;
        *) recovery=revert ;;
    esac
    if [ $recovery != none ]; then
        recoveries=$((recoveries + 1))
        dead=$(lock_record)
        if [ $recovery = apply ]; then out=$(kpatchctl apply $flag /payload/$name.ko 2>&1); rrc=$?
        else out=$(kpatchctl revert $flag $name 2>&1); rrc=$?; fi
        if [ $rrc != 0 ]; then fail chaos-iter-$n "recovery $recovery $name after $moment exited $rrc: $(echo "$out" | tail -n 4)"; break; fi
        if echo "$out" | grep -q "holds the transition lock"; then fail chaos-iter-$n "stale lock: $(echo "$out" | tail -n 4)"; break; fi
        if [ -n "$dead" ]; then
            if echo "$out" | grep -q "note: kpatchctl [a-z]* [a-z_]* (pid $dead) died holding the transition lock; taking it over"; then
                takeovers=$((takeovers + 1))
            else fail chaos-iter-$n "no takeover note for the dead holder $dead: $(echo "$out" | head -n 3)"; break; fi
        fi
        if [ -n "$(lock_record)" ]; then fail chaos-iter-$n "lock file not emptied: $(cat /run/kpatchctl/lock)"; break; fi
        if probes_left; then fail chaos-iter-$n "tracefs probes left: $(cat $tracing/kprobe_events)"; break; fi
    fi
    settled $n $name || break
    [ $final = patched ] && current=$name || current=""
    # A kill can leave record-cmd off; the next apply or revert turns it back on.
    if [ $recovery != none ] && [ "$(cat $tracing/options/record-cmd 2>/dev/null)" != "$record_cmd_before" ]; then
        fail chaos-iter-$n "the top-level record-cmd option was left changed after $recovery"; break
    fi
    ok=$((ok + 1))
    echo "CHAOS iter $n op=$op patch=$name held=$held trace=$([ -z "$flag" ] && echo on || echo off) timeout=$timeout delay=${delay}ms rc=$rc moment=$moment recovery=$recovery final=$final seconds=$(elapsed "$t0" "$(now)")"
    pass chaos-iter-$n
done
release_reader
# End with a command, so what the last kill left is cleaned up, then check it was.
if [ -n "$current" ] && [ -d $lp/$current ]; then
    out=$(kpatchctl revert --no-trace $current 2>&1) || fail chaos-cleanup "revert $current: $(echo "$out" | tail -n 3)"
elif [ -z "$(ls $lp)" ]; then
    out=$(kpatchctl apply --no-trace /payload/livepatch_sum.ko 2>&1 && kpatchctl revert --no-trace livepatch_sum 2>&1) \
        || fail chaos-cleanup "apply/revert livepatch_sum: $(echo "$out" | tail -n 3)"
fi
expect_eq chaos-record-cmd-restored "$(cat $tracing/options/record-cmd 2>/dev/null)" "$record_cmd_before"
if probes_left; then fail chaos-no-probes-left "$(cat $tracing/kprobe_events)"; else pass chaos-no-probes-left; fi
expect_eq chaos-lock-free "$(lock_record)" ""
for m in $moments; do echo "$m"; done | sort | uniq -c | while read -r n m; do echo "CHAOS moment $m $n"; done
echo "CHAOS summary seed=$CHAOS_SEED iterations=$ok/$CHAOS_ITERATIONS killed=$kills finished-before-kill=$finished recoveries=$recoveries takeovers=$takeovers seconds=$(elapsed "$start" "$(now)")"
expect_eq chaos-all-iterations "$ok" "$CHAOS_ITERATIONS"
expect_eq chaos-nothing-loaded "$(ls $lp)$(grep -c '^livepatch_' /proc/modules)" "0"
# One kernel warning is the kill itself, not a fault: SIGKILL during the mkdir of the
# switch-event instance (tracefs instances/) makes the ring buffer stop allocating
# (ring_buffer.c: `user_thread && fatal_signal_pending(current)`), and the CPU-hotplug
# prepare callback then WARNs "failed to allocate ring buffer on CPU N" at
# trace_rb_cpu_prepare. That block (cut here .. end trace) is left out, and counted;
# any other report in it, or any other block, still fails the check.
without_killed_mkdir=$(dmesg | awk '
    /-+\[ cut here \]-+/ { block = $0 "\n"; inblock = 1; next }
    inblock { block = block $0 "\n"
              if ($0 ~ /---\[ end trace/) { if (block ~ /failed to allocate ring buffer on CPU/ && block ~ /at kernel\/trace\/ring_buffer\.c:[0-9]+ trace_rb_cpu_prepare/) { skipped++ } else { printf "%s", block }
                                           inblock = 0; block = "" }
              next }
    { print }
    END { if (inblock) printf "%s", block; print "CHAOS-killed-mkdir-warnings " skipped + 0 }')
echo "CHAOS ring-buffer warnings from a killed instance mkdir: $(echo "$without_killed_mkdir" | sed -n 's/^CHAOS-killed-mkdir-warnings //p')"
report=$(echo "$without_killed_mkdir" | grep -E 'BUG: soft lockup|hard LOCKUP|rcu: INFO: .*detected|rcu_(preempt|sched) kthread|blocked for more than|WARNING: CPU: |BUG: |kernel BUG at|Oops: |general protection fault|Call Trace' | head -n 5)
expect_eq chaos-dmesg-clean "$report" ""
