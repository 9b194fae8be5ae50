import XCTest
@testable import Edge
import Tunnel

/// `offload:` in the daemon config, and its place after `--offload` and `$ZTPD_OFFLOAD`.
final class OffloadConfigTests: XCTestCase {
    func testTheDaemonConfigNamesTheOffloadMode() throws {
        XCTAssertNil(EdgeConfig().offload, "unset: the environment and the default decide")
        XCTAssertNil(try EdgeConfig.parse("interface: edge0", path: "x").offload)
        XCTAssertEqual(try EdgeConfig.parse("offload: auto", path: "x").offload, .all)
        // `off` stays a word (YAML 1.1 would make it false): the scalar's text is read.
        XCTAssertEqual(try EdgeConfig.parse("offload: off", path: "x").offload, .plain)
        XCTAssertEqual(try EdgeConfig.parse("offload: \"OFF\"", path: "x").offload, .plain)
        XCTAssertThrowsError(try EdgeConfig.parse("log_level: info\noffload: fast", path: "ztpd.yaml")) {
            XCTAssertEqual("\($0)", "ztpd.yaml:2:10: offload is auto or off")
        }
        XCTAssertThrowsError(try EdgeConfig.parse("offload: [auto]", path: "ztpd.yaml")) {
            XCTAssertEqual("\($0)", "ztpd.yaml:1:10: 'offload' takes one value")
        }
    }

    func testTheFlagBeatsTheEnvironmentWhichBeatsTheConfig() throws {
        XCTAssertEqual(try DataPathOffloads.resolve(flag: nil, environment: nil, config: nil), .all)
        XCTAssertEqual(try DataPathOffloads.resolve(flag: nil, environment: nil, config: .plain), .plain)
        XCTAssertEqual(try DataPathOffloads.resolve(flag: nil, environment: "auto", config: .plain), .all)
        XCTAssertEqual(try DataPathOffloads.resolve(flag: nil, environment: "off", config: .all), .plain)
        XCTAssertEqual(try DataPathOffloads.resolve(flag: "auto", environment: "off", config: .plain), .all)
        XCTAssertEqual(try DataPathOffloads.resolve(flag: "off", environment: "auto", config: .all), .plain)
    }

    func testABadFlagOrEnvironmentValueIsNamedEvenWhenTheConfigIsGood() {
        XCTAssertThrowsError(try DataPathOffloads.resolve(flag: "maybe", environment: "off", config: .plain)) {
            XCTAssertEqual("\($0)", "--offload is auto or off, not \"maybe\"")
        }
        XCTAssertThrowsError(try DataPathOffloads.resolve(flag: nil, environment: "yes", config: .plain)) {
            XCTAssertEqual("\($0)", "ZTPD_OFFLOAD is auto or off, not \"yes\"")
        }
    }
}
