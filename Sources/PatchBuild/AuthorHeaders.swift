import FoundationEssentials

/// The patch-author headers (kpatch-macros.h, kpatch-syscall.h, kpatchctl/patch.h;
/// docs/AUTHOR-API.md) ship in kmod/include beside the template, so wherever the
/// template is found (checkout, /usr/share/kpatchctl/kmod, $KPATCHCTL_KMOD) they are.
enum AuthorHeaders {
    static func directory(template: URL) -> URL { template.appendingPathComponent("include") }
}
