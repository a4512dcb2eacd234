import Mustache

/// A view model the report template reads by name through a table of key paths.
/// Mustache's default is reflection (`Mirror`) on every lookup: that was two thirds of
/// writing a 10,000-target page. `ReportPageTests` checks every table against the
/// type's stored properties, so a field is never missing from its table. Key paths are
/// not `Sendable`; each table is a constant (`nonisolated(unsafe)`, never mutated).
protocol TemplateFields: MustacheParent {
    static var fields: [String: PartialKeyPath<Self>] { get }
}

extension TemplateFields {
    /// nil for a name the type does not have, and for a field that holds nil (so that
    /// `{{#field}}` renders nothing, as with reflection).
    func child(named name: String) -> Any? {
        guard let path = Self.fields[name] else { return nil }
        let value = self[keyPath: path]
        if let optional = value as? any OptionalField { return optional.wrappedField }
        return value
    }
}

/// An optional field seen through `Any`: its value, or nil.
protocol OptionalField {
    var wrappedField: Any? { get }
}

extension Optional: OptionalField {
    var wrappedField: Any? { self.map { $0 as Any } }
}
