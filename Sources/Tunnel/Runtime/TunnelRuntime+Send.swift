// The outbound data path of TunnelRuntime (wireguard-go's send.go): the TUN thread's loop,
// routing each packet to its peer and through the packet filter (once per same-flow run) under
// the lock, sealing
// outside it and one sendmmsg per batch; staging packets while a peer has no session, and
// keepalives.

import Foundation

extension TunnelRuntime {
    /// Reads up to a batch of packets from TUN (non-blocking, waiting only when none is
    /// ready; super-packets of an offloading TUN cut into MTU-sized ones), routes and seals
    /// them with one lock acquisition, encrypts outside the lock and sends them with one
    /// `sendmmsg` (equal-size ciphertexts to one endpoint as `UDP_SEGMENT` messages).
    func tunLoop() {
        // An offloading TUN hands over up to 64 KB at a time: room for a whole super-packet's
        // segments (45 at a 1,420-byte MTU) and more.
        let capacity = tun.hasVirtioHeaders ? Self.offloadBatchSize : Self.batchSize
        let batch = DatagramBatch(capacity: capacity, stride: Self.messageBufferSize)
        let reader = TunBatchReader(tun: tun)
        var jobs: [SendJob] = []
        jobs.reserveCapacity(capacity)
        let sealed = UnsafeMutablePointer<Int>.allocate(capacity: capacity)
        sealed.initialize(repeating: 0, count: capacity)
        let worker = parallelCrypto ? CryptoWorker(name: "ztp-seal") : nil
        defer {
            worker?.stop()
            sealed.deallocate()
        }
        while nextRound(0) {
            // Packets are read right behind the header's room, then sealed in place.
            let read = reader.fill(batch, headroom: TransportHeader.byteCount)
            if read.malformed > 0 {
                log(.debug, "dropping \(read.malformed) unusable TUN read(s)")
                countDrops(.malformedPacket, read.malformed)
            }
            if let error = read.error {
                log(.error, "TUN read failed: \(error)")
                // EBADFD: the link was deleted under us (wg-quick down); the daemon notices and stops.
                if error.code == EBADF || error.code == EFAULT || error.code == EBADFD { return }
                usleep(10_000)
            }
            if read.packets == 0 {
                if read.error == nil, read.malformed == 0 { _ = try? tun.waitReadable(timeoutMilliseconds: 200) }
                continue
            }
            outbound(batch, count: read.packets, jobs: &jobs, sealed: sealed, worker: worker)
        }
    }

    /// A sealed-to-be transport message: the counter is taken under the lock, the
    /// encryption happens after it is released.
    private struct SendJob {
        let slot: Int
        let key: SymmetricKey
        let remoteIndex: UInt32
        let counter: UInt64
        let payloadCount: Int
        let endpoint: Endpoint
    }

    private func outbound(_ batch: DatagramBatch, count: Int, jobs: inout [SendJob], sealed: UnsafeMutablePointer<Int>,
                          worker: CryptoWorker?) {
        let now = ContinuousClock.now
        jobs.removeAll(keepingCapacity: true)
        // The segments of one super-packet (and any same-flow run) are decided once.
        var run = FilterRun(.outbound)
        lock.lock()
        for slot in 0..<count {
            let buffer = batch.buffer(slot)
            let packetCount = batch.lengths[slot]
            let packet = UnsafeRawBufferPointer(
                rebasing: buffer[TransportHeader.byteCount..<TransportHeader.byteCount + packetCount])
            guard let destination = IPPacket.destination(of: packet) else { continue }
            guard let key = allowedIPs.lookup(destination) else {
                drop(.noRoute, nil)
                log(.debug, "no peer for destination \(destination), dropping")
                continue
            }
            if let filter = hooks.packetFilter,
               HookScope.run(self, { run.verdict(key, packet, filter: filter, repeated: hooks.packetFilterRepeated) }) == .drop {
                drop(.filtered, key)
                continue
            }
            if let job = prepareSend(key, buffer: buffer, slot: slot, payloadCount: packetCount, now: now) {
                jobs.append(job)
            }
        }
        HookScope.run(self) { run.finish(hooks.packetFilterRepeated) }
        lock.unlock()
        fireEvents()

        // Encrypt outside the lock, on both cores when there is a helper; each job writes
        // only its own slot and `sealed[j]` (its message length, -1: not sealed).
        let list = jobs
        crypto(worker, list.count) { j in
            let job = list[j]
            sealed[j] = (try? Keypair.seal(inPlace: batch.buffer(job.slot), payloadCount: job.payloadCount, key: job.key,
                                          remoteIndex: job.remoteIndex, counter: job.counter)) ?? -1
        }
        // Entry j of the send batch is job j (j <= its slot, whose read length was consumed
        // above, so overwriting lengths[j] is safe), in the order the packets were read.
        var ready = 0
        for (j, job) in list.enumerated() where sealed[j] >= 0 {
            batch.pointers[ready] = batch.buffer(job.slot).baseAddress!.assumingMemoryBound(to: UInt8.self)
            batch.lengths[ready] = sealed[j]
            batch.addresses[ready] = job.endpoint.socketAddress
            ready += 1
        }
        guard ready > 0 else { return }
        let outcome = socket.sendBatch(batch, count: ready)
        if let refusal = outcome.segmentationDisabled {
            log(.warning, "UDP segmentation offload refused by the kernel (\(refusal)); sending one datagram per message")
        }
        if outcome.failed > 0 {
            if let error = outcome.firstError { log(.debug, "sendmmsg failed: \(error)") }
            countDrops(.ioError, outcome.failed)
        }
    }

    /// Whether the current keypair may send.
    func canSend(_ key: PublicKey, now: ContinuousClock.Instant) -> Bool {
        guard let keypair = peers[key]?.current, peers[key]?.endpoint != nil else { return false }
        return !keypair.isExpired(now: now) && keypair.sendCounter < WG.REJECT_AFTER_MESSAGES
    }

    /// Seals the payload at `buffer[16..<16+payloadCount]` in place and sends it, or
    /// stages a copy and starts a handshake. Under `lock` (keepalives and staged packets;
    /// the TUN path batches through ``prepareSend``).
    private func sendData(_ key: PublicKey, buffer: UnsafeMutableRawBufferPointer, payloadCount: Int,
                          now: ContinuousClock.Instant) {
        guard let job = prepareSend(key, buffer: buffer, slot: 0, payloadCount: payloadCount, now: now) else { return }
        do {
            let total = try Keypair.seal(inPlace: buffer, payloadCount: payloadCount, key: job.key,
                                         remoteIndex: job.remoteIndex, counter: job.counter)
            try socket.send(UnsafeRawBufferPointer(rebasing: buffer[..<total]), to: job.endpoint)
        } catch {
            drop(.ioError, key)
            log(.debug, "send to \(job.endpoint) failed: \(error)")
        }
    }

    /// Takes a counter on the current keypair for the payload at
    /// `buffer[16..<16+payloadCount]` and does the bookkeeping of a send (counters,
    /// timers, rekeying); without a usable keypair stages a copy and starts a handshake
    /// and returns nil. Under `lock`.
    private func prepareSend(_ key: PublicKey, buffer: UnsafeMutableRawBufferPointer, slot: Int, payloadCount: Int,
                             now: ContinuousClock.Instant) -> SendJob? {
        // One dictionary lookup per packet: the state is a class, so `peer` is the entry.
        guard let peer = peers[key] else { return nil }
        let payload = UnsafeRawBufferPointer(
            rebasing: buffer[TransportHeader.byteCount..<TransportHeader.byteCount + payloadCount])
        guard let endpoint = peer.endpoint, peer.current != nil, !peer.current!.isExpired(now: now),
              peer.current!.sendCounter < WG.REJECT_AFTER_MESSAGES, let counter = try? peer.current!.reserveSendCounter(now: now) else {
            stage(key, payload)
            initiateHandshake(key, now: now)
            return nil
        }
        let total = UInt64(Keypair.messageCount(for: payloadCount))
        peer.counters.sentBytes &+= total
        peer.counters.sentPackets &+= 1
        counters.sentBytes &+= total
        counters.sentPackets &+= 1
        peer.lastSentAt = now
        peer.keepaliveAt = nil
        if payloadCount > 0, peer.newHandshakeAt == nil {
            peer.newHandshakeAt = now + WG.KEEPALIVE_TIMEOUT + WG.REKEY_TIMEOUT
        }
        // Keep the key fresh: the initiator rekeys by age, anyone by message count.
        if peer.current!.sendCounter >= WG.REKEY_AFTER_MESSAGES
            || (peer.current!.isInitiator && now - peer.current!.createdAt >= WG.REKEY_AFTER_TIME) {
            initiateHandshake(key, now: now)
        }
        // Field by field: copying the whole keypair costs more than the rest of this.
        return SendJob(slot: slot, key: peer.current!.sendKey, remoteIndex: peer.current!.remoteIndex, counter: counter,
                       payloadCount: payloadCount, endpoint: endpoint)
    }

    private func stage(_ key: PublicKey, _ payload: UnsafeRawBufferPointer) {
        if peers[key]!.staged.count >= PeerState.maximumStaged {
            peers[key]!.staged.removeFirst()
            drop(.stagedOverflow, key)
        }
        peers[key]!.staged.append(Array(payload))
    }

    func sendKeepalive(_ key: PublicKey, now: ContinuousClock.Instant) {
        sendData(key, buffer: scratch, payloadCount: 0, now: now)
    }

    /// Sends what was staged; with nothing staged and `keepaliveIfEmpty`, a keepalive.
    func sendStaged(_ key: PublicKey, now: ContinuousClock.Instant, keepaliveIfEmpty: Bool) {
        guard canSend(key, now: now) else { return }
        let staged = peers[key]!.staged
        peers[key]!.staged.removeAll()
        if staged.isEmpty {
            if keepaliveIfEmpty { sendKeepalive(key, now: now) }
            return
        }
        for packet in staged {
            packet.withUnsafeBytes { bytes in
                if let base = bytes.baseAddress {
                    scratch.baseAddress!.advanced(by: TransportHeader.byteCount).copyMemory(from: base, byteCount: bytes.count)
                }
            }
            sendData(key, buffer: scratch, payloadCount: packet.count, now: now)
        }
    }
}
