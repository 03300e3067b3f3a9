import PatchModel

extension KthreadSafetyReport {
    /// Evaluates the patch's replaced functions and reachability records against
    /// the live kthreads. Every replaced function of the metadata counts, whatever
    /// object it is in and whether or not that object carries a record.
    public static func evaluate(_ meta: PatchMetadata, kthreads: [LiveKthread],
                                allowComms: Set<String>, allowAll: Bool, rule: KthreadRule = .default,
                                allowUnanalysed: Bool = false) throws -> KthreadSafetyReport {
        let reachabilities = try meta.kthreadReachability.map { try KthreadReachability(decoding: $0) }
        return KthreadSafetyCheck(replaced: meta.functions, reachabilities: reachabilities,
                                  allowComms: allowComms, allowAll: allowAll, rule: rule,
                                  allowUnanalysed: allowUnanalysed).evaluate(kthreads)
    }
}
