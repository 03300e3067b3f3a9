# The soak's guest side (scripts/soak copies it into the payload; run.sh sets the
# variables and sources it). Runs SOAK_CYCLES apply/revert cycles, one patch per cycle
# in turn, in three phases:
#   idle-burst  right after boot, back to back, nothing else running;
#   idle-pause  idle, with SOAK_PAUSE seconds between cycles;
#   load        a fork/exec loop, pipe and file I/O, readers of the patched /proc
#               files and one CPU-bound loop per vCPU (at nice 10: they load the
#               CPUs without starving the kernel workers that run the transition).
# SOAK_TRACE: on (tracefs probes), off (--no-trace) or both (alternating).
# Every cycle must end fully patched (sysfs enabled, no transition, new behaviour)
# and then fully unpatched (no sysfs entry, no module, old behaviour). Stops at the
# first failure. Prints "SOAK cycle ..." lines with timings and a summary.
: "${SOAK_CYCLES:=30}" "${SOAK_TRACE:=both}" "${SOAK_PAUSE:=4}"

now() { cut -d' ' -f1 /proc/uptime; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

insmod /payload/kpvictim.ko || { fail soak-setup "insmod kpvictim"; return 1; }
cmdline_before=$(cat /proc/cmdline)
# name|module file|check of the patched behaviour (run by eval)
patches="lp_cmdline|cmdline.ko|grep -q 'kpatchctl=live' /proc/cmdline
lp_meminfo|meminfo.ko|grep -q '^KpatchctlTotal:' /proc/meminfo
lp_kallsyms_sympos|kallsyms-sympos.ko|head -n 1 /proc/kallsyms | grep -q ' kpatched\$'
livepatch_sum|livepatch_sum.ko|grep -q 'sum(1..10) = 55' /proc/kpvictim"
npatches=$(printf '%s\n' "$patches" | wc -l)

loaders=""
start_load() {
    ncpu=$(grep -c '^processor' /proc/cpuinfo)
    i=0
    while [ $i -lt "$ncpu" ]; do nice -n 10 sh -c "while :; do :; done" & loaders="$loaders $!"; i=$((i + 1)); done
    (while :; do /bin/true; sh -c 'ls /proc > /dev/null 2>&1'; done) & loaders="$loaders $!"
    (while :; do dd if=/dev/zero bs=64k count=16 2>/dev/null | cat > /tmp/soak.io; cat /tmp/soak.io > /dev/null; sync; done) &
    loaders="$loaders $!"
    (while :; do cat /proc/cmdline /proc/meminfo /proc/kpvictim > /dev/null; head -n 3 /proc/kallsyms > /dev/null; done) &
    loaders="$loaders $!"
    echo "SOAK load started: $ncpu cpu loop(s), fork/exec, pipe+file I/O, /proc readers (pids$loaders)"
}
stop_load() { [ -z "$loaders" ] || kill $loaders 2>/dev/null; wait 2>/dev/null; loaders=""; }

burst=$((SOAK_CYCLES / 3)); pauses=$((SOAK_CYCLES / 6))
cycle=0 traced=0 polled=0 ok=0 soak_start=$(now)
while [ $cycle -lt "$SOAK_CYCLES" ]; do
    cycle=$((cycle + 1))
    if [ $cycle -le $burst ]; then phase=idle-burst
    elif [ $cycle -le $((burst + pauses)) ]; then phase=idle-pause; sleep "$SOAK_PAUSE"
    else phase=load; [ -n "$loaders" ] || start_load
    fi
    case $SOAK_TRACE in
        on) flag="" ;; off) flag="--no-trace" ;; *) [ $((cycle % 2)) = 0 ] && flag="" || flag="--no-trace" ;;
    esac
    [ -z "$flag" ] && traced=$((traced + 1)) || polled=$((polled + 1))
    entry=$(printf '%s\n' "$patches" | sed -n "$(( (cycle - 1) % npatches + 1 ))p")
    name=${entry%%|*}; rest=${entry#*|}; file=${rest%%|*}; behaviour=${rest#*|}

    t0=$(now)
    if ! out=$(kpatchctl apply $flag --timeout 60 "/payload/$file" 2>&1); then
        fail soak-cycle-$cycle "apply $name ($phase, trace ${flag:-on}) failed: $(echo "$out" | tail -n 5)"; break
    fi
    t1=$(now)
    state="$(cat /sys/kernel/livepatch/$name/enabled 2>&1)$(cat /sys/kernel/livepatch/$name/transition 2>&1)"
    if [ "$state" != 10 ]; then fail soak-cycle-$cycle "$name after apply: enabled+transition=$state, want 10"; break; fi
    if ! eval "$behaviour"; then fail soak-cycle-$cycle "$name applied but the patched behaviour is missing"; break; fi
    if ! out=$(kpatchctl revert $flag --timeout 60 "$name" 2>&1); then
        fail soak-cycle-$cycle "revert $name ($phase, trace ${flag:-on}) failed: $(echo "$out" | tail -n 5)"; break
    fi
    t2=$(now)
    if [ -e "/sys/kernel/livepatch/$name" ]; then fail soak-cycle-$cycle "$name: sysfs entry left after revert"; break; fi
    if grep -q "^$name " /proc/modules; then fail soak-cycle-$cycle "$name: module left after revert"; break; fi
    if eval "$behaviour"; then fail soak-cycle-$cycle "$name reverted but the patched behaviour remains"; break; fi
    if [ "$(cat /proc/cmdline)" != "$cmdline_before" ]; then fail soak-cycle-$cycle "/proc/cmdline changed"; break; fi
    ok=$((ok + 1))
    echo "SOAK cycle $cycle phase=$phase trace=$([ -z "$flag" ] && echo on || echo off) patch=$name apply=$(elapsed "$t0" "$t1")s revert=$(elapsed "$t1" "$t2")s"
    pass soak-cycle-$cycle
done
stop_load
echo "SOAK summary cycles=$ok/$SOAK_CYCLES traced=$traced polled=$polled seconds=$(elapsed "$soak_start" "$(now)")"
expect_eq soak-all-cycles "$ok" "$SOAK_CYCLES"
expect_eq soak-nothing-loaded "$(ls /sys/kernel/livepatch)" ""
# vm-run fails the run on any kernel report too; this names it in the guest's own words.
# The same reports as vm-run's (not the kernel command line, which names the detectors).
report=$(dmesg | grep -E 'BUG: soft lockup|hard LOCKUP|rcu: INFO: .*detected|rcu_(preempt|sched) kthread|blocked for more than|WARNING: CPU: |BUG: |kernel BUG at|Oops: |general protection fault|Call Trace' | head -n 5)
expect_eq soak-dmesg-clean "$report" ""
