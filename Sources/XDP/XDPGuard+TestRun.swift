import CLibBPF

/// What the program decided for a frame (`enum xdp_action`).
package enum XDPAction: UInt32, Sendable {
    case aborted = 0, drop = 1, pass = 2, tx = 3, redirect = 4
}

extension XDPGuard {
    /// Runs the loaded program once on `frame` (an Ethernet frame) with BPF_PROG_TEST_RUN,
    /// without attaching it anywhere: maps and counters are the real ones.
    package func run(frame: [UInt8]) throws -> XDPAction {
        try state.withLock { state in
            var options = bpf_test_run_opts()
            options.sz = MemoryLayout<bpf_test_run_opts>.size
            options.repeat = 1
            let result = frame.withUnsafeBytes { bytes in
                options.data_in = bytes.baseAddress
                options.data_size_in = UInt32(bytes.count)
                return bpf_prog_test_run_opts(state.object.programFD, &options)
            }
            guard result == 0 else { throw XDPError.testRunFailed(errno: -result) }
            guard let action = XDPAction(rawValue: options.retval) else { throw XDPError.testRunFailed(errno: 0) }
            return action
        }
    }
}
