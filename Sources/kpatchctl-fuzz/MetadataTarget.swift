import PatchModel
import KthreadSafety

/// The input is the content of a `.note.kpatchctl` section: the notes parser,
/// then the metadata decoder on every note's descriptor (the kthread
/// reachability record included).
struct MetadataTarget: FuzzTarget {
    func run(_ bytes: UnsafeRawBufferPointer) {
        let notes = ELFNotes.parse([UInt8](bytes))
        for note in notes {
            do {
                let metadata = try PatchMetadataFormat.decode(note.descriptor)
                for blob in metadata.kthreadReachability { _ = try KthreadReachability(decoding: blob) }
            } catch is PatchMetadataError {
            } catch is KthreadReachabilityError {
            } catch {
                fatalError("untyped error: \(type(of: error)): \(error)")
            }
        }
        _ = GNUBuildIDNote.parse([UInt8](bytes))
    }
}
