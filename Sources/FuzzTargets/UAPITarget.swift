import Tunnel

extension FuzzTargets {
    /// The UAPI `set=1` parser (Tunnel's `UAPISetParser`), on the body of a request: the lines
    /// after `set=1`, up to the blank line. The input is the body.
    ///
    /// Invariants: a body that parses prints back (`UAPIPrinter.setRequest`) to a body that
    /// parses to the same change, and prints the same again: what the parser accepts, the
    /// printer can say, and nothing is lost or invented between the two. A body that does not
    /// parse fails with an errno the spec allows.
    public static func uapiSet(_ bytes: [UInt8]) {
        let body = String(decoding: bytes, as: UTF8.self)
        let change: InterfaceChange
        do {
            change = try UAPISetParser.parse(body)
        } catch {
            precondition(error.errno > 0, "a refusal without an errno")
            return
        }
        let printed = UAPIPrinter.setRequest(change)
        guard let again = try? UAPISetParser.parse(printed) else {
            preconditionFailure("the printer wrote a body the parser refuses:\n\(printed)")
        }
        precondition(again == change, "the change changed in a print and parse round trip")
        precondition(UAPIPrinter.setRequest(again) == printed, "printing is not stable")
    }
}
