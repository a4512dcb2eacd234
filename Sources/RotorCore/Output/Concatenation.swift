extension String {
    /// `parts` end to end, copied into one buffer sized first. For text made once per
    /// target at fleet scale (labels, step details, warnings): interpolation and `+=` both
    /// append part by part through `String`'s general path, several times the work.
    init(concatenating parts: String...) {
        var total = 0
        for part in parts { total += part.utf8.count }
        self.init(unsafeUninitializedCapacity: total) { buffer in
            var offset = 0
            for var part in parts {
                part.withUTF8 { utf8 in
                    guard let source = utf8.baseAddress else { return }
                    (buffer.baseAddress! + offset).update(from: source, count: utf8.count)
                    offset += utf8.count
                }
            }
            return offset
        }
    }
}
