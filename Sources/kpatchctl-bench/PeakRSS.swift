#if canImport(Glibc)
import Glibc
#endif

/// This process's peak resident set size so far (getrusage's ru_maxrss is in
/// kilobytes on Linux).
func peakRSSMegabytes() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}
