import XCTest
@testable import PolicyLang

final class RuleParserTests: XCTestCase {
    let base = SourceLocation(file: "t.yaml", line: 7, column: 5)

    func rule(_ text: String, id: String = "p/1") throws -> Rule {
        var p = RuleParser(text, at: base)
        do {
            return try p.parseRule(id: id, defaults: Defaults())
        } catch {
            XCTFail("\(text): \(error.diagnostic.message)")
            throw error
        }
    }

    func failure(_ text: String) -> Diagnostic? {
        var p = RuleParser(text, at: base)
        do {
            _ = try p.parseRule(id: "p/1", defaults: Defaults())
            return nil
        } catch {
            return error.diagnostic
        }
    }

    func testEveryRuleOfTheSpecificationExampleParsesWithItsMeaning() throws {
        let r1 = try rule("allow group:eng -> prod-db:5432/tcp if tag:managed")
        XCTAssertEqual(r1.action, .allow)
        XCTAssertEqual(r1.subjects.map(\.value), [.group("eng")])
        XCTAssertEqual(r1.targets.map(\.description), ["prod-db:5432/tcp"])
        XCTAssertEqual(r1.condition?.description, "tag:managed")

        let r2 = try rule("allow group:sre -> 10.0.0.0/8:*")
        XCTAssertEqual(r2.targets[0].host.value, .prefix(try IPPrefix(exactly: IPAddress("10.0.0.0")!, length: 8)))
        XCTAssertEqual(r2.targets[0].ports, [.all])
        XCTAssertNil(r2.targets[0].proto)

        let r3 = try rule("deny user:bob@example.com -> ci:22/tcp")
        XCTAssertEqual(r3.action, .deny)
        XCTAssertEqual(r3.subjects.map(\.value), [.user("bob@example.com")])

        let r5 = try rule("allow group:eng -> ci:443,8443/tcp web:80-90/tcp rate 50/s ttl 2s")
        XCTAssertEqual(r5.targets.count, 2)
        XCTAssertEqual(r5.targets[0].ports, [PortRange(443, 443), PortRange(8443, 8443)])
        XCTAssertEqual(r5.targets[1].ports, [PortRange(80, 90)])
        XCTAssertEqual(r5.rate, Rate(count: 50, seconds: 1))
        XCTAssertEqual(r5.ttl, .seconds(2))

        let r6 = try rule("allow * -> 10.0.0.53:53/udp")
        XCTAssertEqual(r6.subjects.map(\.value), [.any])
        XCTAssertEqual(r6.targets[0].proto, .udp)

        let r7 = try rule("allow group:sre -> prod-db:* if time mon-fri 08:00-18:00 Europe/Berlin")
        guard case .time(let w) = r7.condition else { return XCTFail("expected a time condition") }
        XCTAssertEqual(w.days, 0b0011111)
        XCTAssertEqual(w.startMinute, 480)
        XCTAssertEqual(w.endMinute, 1080)
        XCTAssertEqual(w.zone, "Europe/Berlin")
    }

    func testSubjectsCanBeListedWithBlanksOrCommas() throws {
        let r = try rule("allow group:eng, tag:managed alice-laptop -> ci:22/tcp")
        XCTAssertEqual(r.subjects.map(\.value), [.group("eng"), .tag("managed"), .identity("alice-laptop")])
    }

    func testIPv6TargetsAreWrittenInBrackets() throws {
        let r = try rule("allow * -> [fd00:30::/64]:443/tcp [fd00::1]:*")
        XCTAssertEqual(r.targets[0].host.value, .prefix(try IPPrefix(exactly: IPAddress("fd00:30::")!, length: 64)))
        XCTAssertEqual(r.targets[1].host.value, .prefix(try IPPrefix(exactly: IPAddress("fd00::1")!, length: 128)))
    }

    func testOptionsMayComeAfterTheCondition() throws {
        let r = try rule("allow * -> ci:22/tcp if tag:managed rate 5/m ttl 500ms")
        XCTAssertEqual(r.rate, Rate(count: 5, seconds: 60))
        XCTAssertEqual(r.ttl, Duration(milliseconds: 500))
    }

    func testNotBindsTighterThanAndWhichBindsTighterThanOr() throws {
        let r = try rule("allow * -> ci:22/tcp if tag:a or not tag:b and tag:c")
        guard case .or(.tag(let a), .and(.not(.tag(let b)), .tag(let c))) = r.condition else {
            return XCTFail("wrong tree: \(String(describing: r.condition))")
        }
        XCTAssertEqual([a.value, b.value, c.value], ["a", "b", "c"])
        let p = try rule("allow * -> ci:22/tcp if (tag:a or tag:b) and group:x")
        guard case .and(.or, .group) = p.condition else { return XCTFail("parentheses ignored") }
    }

    func testDayListsRangesAndOvernightWindows() throws {
        let r = try rule("allow * -> ci:22/tcp if time fri-mon,wed 22:00-06:00 UTC")
        guard case .time(let w) = r.condition else { return XCTFail() }
        XCTAssertEqual(w.days, 0b1110101)  // mon, wed, fri, sat, sun
        XCTAssertEqual(w.startMinute, 1320)
        XCTAssertEqual(w.endMinute, 360)
        let d = try rule("allow * -> ci:22/tcp if time daily 08:00-24:00 UTC")
        guard case .time(let all) = d.condition else { return XCTFail() }
        XCTAssertEqual(all.days, 0x7f)
        XCTAssertEqual(all.endMinute, 0)
    }

    func testRuleIdsAndSpansPointIntoTheFile() throws {
        let r = try rule("allow * -> ci:22/tcp", id: "eng/ops")
        XCTAssertEqual(r.id, "eng/ops")
        XCTAssertEqual(r.span.start, base)
        XCTAssertEqual(r.targets[0].host.span.start, base.advanced(by: 11))
    }

    func testABadPortIsReportedAtItsColumnInsideTheRule() throws {
        let d = try XCTUnwrap(failure("allow * -> web:99999/tcp"))
        XCTAssertEqual(d.code, .invalidPort)
        XCTAssertEqual(d.span?.start, base.advanced(by: 15))
        XCTAssertEqual(d.span?.length, 5)
    }

    func testMalformedRulesGetLocatedErrors() throws {
        let cases: [(String, DiagnosticCode, Int)] = [
            ("permit * -> web:80", .syntax, 0),
            ("allow * web:80", .syntax, 8),
            ("allow * ->", .syntax, 10),
            ("allow * -> web", .syntax, 11),
            ("allow * -> web:90-80/tcp", .invalidPort, 15),
            ("allow * -> web:80/tcpp", .syntax, 18),
            ("allow * -> 10.0.0.1/24:80", .hostBitsSet, 11),
            ("allow * -> 10.0.0.256:80", .invalidAddress, 11),
            ("allow * -> [fd00:::1]:80", .invalidAddress, 12),
            ("allow * -> web:80 rate 0/s", .invalidRate, 23),
            ("allow * -> web:80 rate 5/d", .invalidRate, 23),
            ("allow * -> web:80 ttl 2d", .invalidDuration, 22),
            ("allow * -> web:80 ttl 0s", .invalidDuration, 22),
            ("allow * -> web:80 if time mon-fry 08:00-18:00 UTC", .invalidTime, 26),
            ("allow * -> web:80 if time mon 08:00-25:00 UTC", .invalidTime, 30),
            ("allow * -> web:80 if time mon 08:00-18:00 Mars/Olympus", .invalidTimeZone, 42),
            ("allow * -> web:80 if time mon 08:00-18:00 GMT+2", .invalidTimeZone, 42),
            ("allow * -> web:80 if (tag:a", .syntax, 21),
            ("allow * -> web:80 if tag:a and", .syntax, 30),
            ("allow usr:bob -> web:80", .syntax, 6),
            ("allow * -> web:80/icmp", .invalidPort, 15),
            ("allow * -> web:80 if tag:a if tag:b", .syntax, 27),
        ]
        for (text, code, column) in cases {
            guard let d = failure(text) else {
                XCTFail("accepted: \(text)")
                continue
            }
            XCTAssertEqual(d.code, code, text)
            XCTAssertEqual(d.span?.start.column, base.column + column, "\(text): \(d.message)")
        }
    }

    func testDidYouMeanForMisspelledKeywords() {
        XCTAssertEqual(failure("alow * -> web:80")?.help, "did you mean 'allow'?")
        XCTAssertEqual(failure("allow * -> web:80/tpc")?.help, "did you mean 'tcp'?")
        XCTAssertEqual(failure("allow gruop:eng -> web:80")?.help, "did you mean 'group:'?")
    }

    func testDeeplyNestedConditionsAreRefusedNotOverflowed() {
        let text = "allow * -> web:80 if " + String(repeating: "(", count: 5000) + "tag:a" + String(repeating: ")", count: 5000)
        XCTAssertEqual(failure(text)?.code, .syntax)
    }

    func testTestLinesParseWithOptionalTime() throws {
        var p = RuleParser("deny bob-phone -> [fd00:30::1]:443/tcp at 2026-11-23T09:00:00Z", at: base)
        let t = try p.parseTest()
        XCTAssertEqual(t.expect, .deny)
        XCTAssertEqual(t.subject.value, "bob-phone")
        XCTAssertEqual(t.request, Request(address: IPAddress("fd00:30::1")!, port: 443, proto: .tcp))
        XCTAssertEqual(t.at, 1_795_424_400)
        var icmp = RuleParser("allow a -> 10.0.0.1/icmp", at: base)
        XCTAssertEqual(try icmp.parseTest().request.proto, .icmp)
        var noPort = RuleParser("allow a -> 10.0.0.1/tcp", at: base)
        XCTAssertThrowsError(try noPort.parseTest())
    }
}
