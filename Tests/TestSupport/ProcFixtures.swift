/// /proc text of the kpvictim tick kthread as the pinned 6.1 kernel prints it.
public enum ProcFixtures {
    public static let tickStat = "212 (kpvictim_tick) S 2 0 0 0 -1 2129984 0 0 0 0 0 3 0 0 20 0 1 0 480 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    public static let tickStack = """
        [<0>] msleep_interruptible+0x39/0x60
        [<0>] kpvictim_tick_fn+0x27/0x40 [kpvictim]
        [<0>] kthread+0xe8/0x110
        [<0>] ret_from_fork+0x22/0x30

        """
}
