internal import CYAML

/// Owns one libyaml parser and pulls events from it.
///
/// The parser lives in memory this class allocates and frees; no C type is visible
/// outside this file. It reads the caller's bytes in place (a 20 MB file is not copied),
/// so it exists only inside `withParser`, while those bytes are pinned.
final class YAMLEventParser {
    private let parser: UnsafeMutablePointer<yaml_parser_t>
    private var finished = false

    /// Calls `body` with a parser over `bytes`; the parser must not be kept after `body` returns.
    static func withParser<R, E: Error>(over bytes: [UInt8], _ body: (YAMLEventParser) throws(E) -> R) throws(E) -> R {
        // libyaml needs a valid address even for empty input.
        let result: Result<R, E> = (bytes.isEmpty ? [0] : bytes).withUnsafeBufferPointer { buffer in
            let parser = YAMLEventParser(buffer.baseAddress!, count: bytes.count)
            do throws(E) { return .success(try body(parser)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    private init(_ input: UnsafePointer<UInt8>, count: Int) {
        parser = .allocate(capacity: 1)
        yaml_parser_initialize(parser)
        yaml_parser_set_input_string(parser, input, count)
    }

    deinit {
        yaml_parser_delete(parser)
        parser.deallocate()
    }

    /// The next event; `.streamEnd` once the input is exhausted (and again after that).
    func next() throws(YAMLError) -> YAMLEvent {
        try withNextEvent { (event: RawYAMLEvent) -> YAMLEvent in
            switch event.kind {
            case .streamStart: .streamStart
            case .streamEnd: .streamEnd
            case .documentStart: .documentStart(event.start, implicit: event.implicit)
            case .documentEnd: .documentEnd(event.start, implicit: event.implicit)
            case .mappingStart: .mappingStart(anchor: event.anchor, tag: event.tag, flow: event.flow, mark: event.start)
            case .mappingEnd: .mappingEnd(event.start)
            case .sequenceStart: .sequenceStart(anchor: event.anchor, tag: event.tag, flow: event.flow, mark: event.start)
            case .sequenceEnd: .sequenceEnd(event.start)
            case .scalar:
                .scalar(value: String(decoding: event.text, as: UTF8.self), anchor: event.anchor, tag: event.tag,
                        style: event.style, start: event.start, end: event.end)
            case .alias: .alias(anchor: event.anchor ?? "", mark: event.start)
            }
        }
    }

    /// Calls `body` with each event up to the end of the stream (which it does not see),
    /// until `body` returns false or throws, or libyaml reports an error.
    func forEachEvent(_ body: (RawYAMLEvent) throws(YAMLError) -> Bool) throws(YAMLError) {
        var more = true
        while more {
            more = try withNextEvent { (event: RawYAMLEvent) throws(YAMLError) -> Bool in
                if case .streamEnd = event.kind { return false }
                return try body(event)
            }
        }
    }

    /// Calls `body` with the next event as libyaml produced it, its scalar text still in
    /// libyaml's buffer: the loader copies those bytes once, into its node storage,
    /// instead of making a `String` per scalar. The event is gone when `body` returns.
    func withNextEvent<R>(_ body: (RawYAMLEvent) throws(YAMLError) -> R) throws(YAMLError) -> R {
        if finished { return try body(RawYAMLEvent(kind: .streamEnd, start: Mark(line: 1, column: 1))) }
        var event = yaml_event_t()
        guard yaml_parser_parse(parser, &event) == 1 else {
            finished = true
            throw parserError()
        }
        defer { yaml_event_delete(&event) }
        var raw = RawYAMLEvent(kind: .streamEnd, start: Mark(event.start_mark))
        switch event.type {
        case YAML_STREAM_START_EVENT:
            raw.kind = .streamStart
        case YAML_STREAM_END_EVENT:
            finished = true
        case YAML_DOCUMENT_START_EVENT:
            raw.kind = .documentStart
            raw.implicit = event.data.document_start.implicit != 0
        case YAML_DOCUMENT_END_EVENT:
            raw.kind = .documentEnd
            raw.implicit = event.data.document_end.implicit != 0
        case YAML_MAPPING_START_EVENT:
            let data = event.data.mapping_start
            raw.kind = .mappingStart
            raw.anchorBytes = UnsafePointer(data.anchor)
            raw.tagBytes = UnsafePointer(data.tag)
            raw.flow = data.style == YAML_FLOW_MAPPING_STYLE
        case YAML_MAPPING_END_EVENT:
            raw.kind = .mappingEnd
        case YAML_SEQUENCE_START_EVENT:
            let data = event.data.sequence_start
            raw.kind = .sequenceStart
            raw.anchorBytes = UnsafePointer(data.anchor)
            raw.tagBytes = UnsafePointer(data.tag)
            raw.flow = data.style == YAML_FLOW_SEQUENCE_STYLE
        case YAML_SEQUENCE_END_EVENT:
            raw.kind = .sequenceEnd
        case YAML_SCALAR_EVENT:
            let data = event.data.scalar
            raw.kind = .scalar
            raw.text = UnsafeBufferPointer(start: data.value, count: data.length)
            raw.anchorBytes = UnsafePointer(data.anchor)
            raw.tagBytes = UnsafePointer(data.tag)
            raw.style = Self.style(data.style)
            raw.end = Mark(event.end_mark)
        case YAML_ALIAS_EVENT:
            raw.kind = .alias
            raw.anchorBytes = UnsafePointer(event.data.alias.anchor)
        default:
            finished = true
            throw YAMLError("unexpected YAML event", at: raw.start)
        }
        return try body(raw)
    }

    private func parserError() -> YAMLError {
        let problem = parser.pointee.problem.map { String(cString: $0) } ?? "invalid YAML"
        var message = problem
        if let context = parser.pointee.context.map({ String(cString: $0) }) {
            message = "\(problem) \(context)"
        }
        // libyaml sets problem_mark for scanner/parser errors; reader errors only have an offset.
        var mark = Mark(parser.pointee.problem_mark)
        if parser.pointee.error == YAML_READER_ERROR {
            mark = Mark(parser.pointee.mark)
            message = "\(problem) (byte offset \(parser.pointee.problem_offset))"
        }
        return YAMLError(message, at: mark)
    }

    private static func style(_ style: yaml_scalar_style_t) -> ScalarStyle {
        switch style {
        case YAML_SINGLE_QUOTED_SCALAR_STYLE: .singleQuoted
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE: .doubleQuoted
        case YAML_LITERAL_SCALAR_STYLE: .literal
        case YAML_FOLDED_SCALAR_STYLE: .folded
        default: .plain
        }
    }
}
