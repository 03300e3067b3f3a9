/// Guest-script snippets more than one VM test runs (with scripts/guest/kptest.sh's helpers).
public enum GuestScript {
    /// Applies /payload/`file`, the patch of examples/vmlinux/cmdline.diff named `lp_cmdline`:
    /// /proc/cmdline gains " kpatchctl=live"; reverts it: /proc/cmdline is back. Four checks.
    public static func cmdlineRoundTrip(file: String) -> String {
        """
        before=$(cat /proc/cmdline)
        check apply-cmdline kpatchctl apply /payload/\(file)
        expect_eq cmdline-patched "$(cat /proc/cmdline)" "$before kpatchctl=live"
        check revert-cmdline kpatchctl revert lp_cmdline
        expect_eq cmdline-reverted "$(cat /proc/cmdline)" "$before"
        """
    }
}
