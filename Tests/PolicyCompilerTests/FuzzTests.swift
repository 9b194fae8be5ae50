import Foundation
import XCTest
import PolicyLang
@testable import PolicyCompiler

/// Mutation fuzzing of the whole pipeline: whatever the bytes, parse, resolve, lint, lower and
/// test must end in diagnostics or tables, never a crash, and every diagnostic has a location
/// inside the file it names.
final class FuzzTests: XCTestCase {
    static let seeds: [String] = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("policies")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return files.sorted().compactMap { try? String(contentsOf: root.appendingPathComponent($0), encoding: .utf8) }
            + [PolicyFileParserExample.text]
    }()

    static let dictionary = [
        "->", ":", "/", "*", ",", "-", "(", ")", "[", "]", "{", "}", "'", "\"", "#", "\n", "  ", "- ", "if ", "and ", "or ",
        "not ", "time ", "rate ", "ttl ", "group:", "tag:", "user:", "allow ", "deny ", "0", "65536", "/0", "/33", "::",
        "10.0.0.0/8", "fd00::/7", "mon-fri ", "25:00", "Europe/Berlin", "9999999999/s", "0s", "\u{0}", "é", "&a", "*a", "!!str ",
    ]

    func testMutatedPoliciesNeverCrashThePipeline() throws {
        XCTAssertFalse(Self.seeds.isEmpty)
        var rng = SplitMix(seed: UInt64(ProcessInfo.processInfo.environment["ZTP_FUZZ_SEED"] ?? "") ?? 2026)
        var options = PolicyCompiler.Options()
        options.now = 1_795_424_400_000
        var outcomes = (tables: 0, rejected: 0)
        // ZTP_FUZZ_ITERATIONS runs a longer campaign than the CI default.
        let iterations = Int(ProcessInfo.processInfo.environment["ZTP_FUZZ_ITERATIONS"] ?? "") ?? 1200
        for iteration in 0..<iterations {
            var text = Array(Self.seeds[Int(rng.next() % UInt64(Self.seeds.count))].unicodeScalars)
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let at = text.isEmpty ? 0 : Int(rng.next() % UInt64(text.count))
                switch rng.next() % 5 {
                case 0: text.insert(contentsOf: Self.dictionary[Int(rng.next() % UInt64(Self.dictionary.count))].unicodeScalars, at: at)
                case 1: if !text.isEmpty { text.remove(at: at) }
                case 2: text = Array(text.prefix(at))
                case 3: if !text.isEmpty { text[at] = Unicode.Scalar(UInt8(truncatingIfNeeded: rng.next() % 128)) }
                default:
                    let end = min(text.count, at + Int(rng.next() % 80))
                    text.insert(contentsOf: text[at..<end], at: at)
                }
            }
            var mutated = ""
            mutated.unicodeScalars.append(contentsOf: text)
            let path = "fuzz-\(iteration).yaml"
            let (file, parseDiagnostics) = PolicySetLoader.parse(text: mutated, path: path)
            let parsed = ParsedPolicySet(files: file.map { [$0] } ?? [], sources: [path: SourceFile(path: path, text: mutated)])
            let c = PolicyCompiler.compile(parsed, initialDiagnostics: parseDiagnostics, options: options)
            let lines = SourceFile(path: path, text: mutated).lines.count
            for d in c.diagnostics {
                guard let span = d.span else { continue }
                XCTAssertEqual(span.start.file, path)
                XCTAssertTrue((1...max(1, lines)).contains(span.start.line), "\(d.message) at \(span.start) in\n\(mutated)")
            }
            _ = HumanDiagnosticRenderer(sources: c.sources).render(c.diagnostics)
            if let tables = c.tables {
                outcomes.tables += 1
                XCTAssertEqual(try PolicyBundle.decode(PolicyBundle.encode(tables)), tables)
            } else {
                outcomes.rejected += 1
                XCTAssertTrue(c.hasErrors, "no tables but no error")
            }
        }
        // The mutations must exercise both paths, or the test proves little.
        XCTAssertGreaterThan(outcomes.tables, 50)
        XCTAssertGreaterThan(outcomes.rejected, 50)
    }

    func testRandomBytesNeverCrashTheBundleDecoder() {
        var rng = SplitMix(seed: 99)
        for _ in 0..<3000 {
            var bytes = PolicyBundle.magic + [1, 0, 0, 0]
            bytes += (0..<Int(rng.next() % 400)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            _ = try? PolicyBundle.decode(bytes)
        }
    }
}
