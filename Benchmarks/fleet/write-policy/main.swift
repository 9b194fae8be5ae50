// write-policy: writes the benchmarks' generated policy set (Benchmarks/Sources/PolicyFixtures) of RULES rules
// to DIR. Compiled by fleet_bench.py together with PolicyFixtures/Generator.swift.
import Foundation

let arguments = CommandLine.arguments
guard arguments.count == 3, let rules = Int(arguments[1]) else {
    FileHandle.standardError.write(Data("usage: write_policy RULES DIR\n".utf8))
    exit(2)
}
try PolicySetSpec(rules: rules).write(to: arguments[2])
