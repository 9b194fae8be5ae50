// The inbound data path of TunnelRuntime (wireguard-go's receive.go): the UDP thread's loop,
// one recvmmsg batch at a time: handshake messages handed to the handshake driver, each
// transport message's keypair found under the lock, decryption outside it, then replay
// window, key confirmation, roaming, source check and packet filter, and the TUN writes.

import CSodium
import Foundation

extension TunnelRuntime {
    /// Receives up to `batchSize` datagrams per `recvmmsg`, handles them under one lock
    /// acquisition, then writes the decrypted packets to TUN outside the lock.
    func udpLoop() {
        let batch = DatagramBatch(capacity: Self.batchSize, stride: Self.messageBufferSize)
        let plain = DatagramBatch(capacity: Self.batchSize, stride: Self.messageBufferSize)
        var jobs = [ReceiveJob?](repeating: nil, count: Self.batchSize)
        while nextRound(1) {
            do {
                let count = try socket.receive(into: batch)
                if count == 0 {
                    _ = try socket.waitReadable(timeoutMilliseconds: 200)
                    continue
                }
                inbound(batch, count: count, plain: plain, jobs: &jobs)
            } catch {
                log(.error, "UDP receive failed: \(error)")
                if error.code == EBADF { return }
                usleep(10_000)
            }
        }
    }

    /// Handles a received batch: handshake messages and the lookup of each transport
    /// message's keypair under the lock; decryption outside it; then, under the lock
    /// again, replay check and bookkeeping. Decrypted packets land in `plain`'s entries
    /// (length 0: nothing to write) and go to TUN after the last unlock.
    private func inbound(_ batch: DatagramBatch, count: Int, plain: DatagramBatch, jobs: inout [ReceiveJob?]) {
        let now = ContinuousClock.now
        lock.lock()
        for i in 0..<count {
            jobs[i] = nil
            plain.lengths[i] = 0
            let datagram = UnsafeRawBufferPointer(rebasing: batch.buffer(i)[..<batch.lengths[i]])
            guard datagram.count >= 4, let source = Endpoint(storage: UnsafeRawPointer(batch.addresses + i)) else {
                drop(.malformedMessage, nil)
                continue
            }
            let type = UInt32(littleEndian: datagram.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
            switch MessageType(rawValue: type) {
            case .transport?:
                jobs[i] = lookupTransport(datagram, now: now)
            case let handshake?:
                handleHandshake(Array(datagram), type: handshake, from: source, now: now)
            case nil:
                drop(.malformedMessage, nil)
            }
        }
        let answering = !outgoingHandshakes.isEmpty
        lock.unlock()
        // Handshake answers go out now, not after this batch's decryption.
        if answering { fireEvents() }

        var decrypted = 0
        for i in 0..<count {
            guard let job = jobs[i] else { continue }
            let datagram = UnsafeRawBufferPointer(rebasing: batch.buffer(i)[..<batch.lengths[i]])
            if let length = try? Keypair.open(datagram, into: plain.buffer(i), key: job.key, counter: job.counter) {
                plain.lengths[i] = length
                decrypted += 1
            } else {
                plain.lengths[i] = -1
            }
        }

        if decrypted < count {
            lock.lock()
            for i in 0..<count where jobs[i] != nil && plain.lengths[i] < 0 {
                drop(.authenticationFailed, jobs[i]!.peer)
                // Forget it entirely: an unauthenticated message must not reach the
                // bookkeeping below (replay window, roaming).
                jobs[i] = nil
                plain.lengths[i] = 0
            }
            lock.unlock()
        }
        if decrypted > 0 {
            lock.lock()
            for i in 0..<count where plain.lengths[i] >= 0 {
                guard let job = jobs[i] else { continue }
                let datagram = UnsafeRawBufferPointer(rebasing: batch.buffer(i)[..<batch.lengths[i]])
                let source = Endpoint(storage: UnsafeRawPointer(batch.addresses + i))!
                plain.lengths[i] = completeTransport(job, datagram, from: source, plain: plain.buffer(i),
                                                     count: plain.lengths[i], now: now) ?? 0
            }
            lock.unlock()
        }
        for i in 0..<count { jobs[i] = nil }
        fireEvents()
        var failed = 0
        for i in 0..<count where plain.lengths[i] > 0 {
            do {
                try tun.write(UnsafeRawBufferPointer(rebasing: plain.buffer(i)[..<plain.lengths[i]]))
            } catch {
                failed += 1
                log(.debug, "TUN write failed: \(error)")
            }
        }
        if failed > 0 {
            lock.lock()
            for _ in 0..<failed { drop(.ioError, nil) }
            lock.unlock()
        }
    }

    private enum Slot { case current, previous, next }

    /// A transport message to decrypt outside the lock: which keypair (by local index)
    /// and its receive key, found under the lock.
    struct ReceiveJob {
        let peer: PublicKey
        let localIndex: UInt32
        let key: SymmetricKey
        let counter: UInt64
    }

    /// First half of receiving a transport message, under `lock`: the keypair it is for,
    /// or nil (counted) if none can take it.
    private func lookupTransport(_ datagram: UnsafeRawBufferPointer, now: ContinuousClock.Instant) -> ReceiveJob? {
        guard let header = try? TransportHeader(packet: datagram) else { drop(.malformedMessage, nil); return nil }
        let index = header.receiverIndex
        guard let key = device.peer(forIndex: index) else { drop(.unknownReceiver, nil); return nil }
        // Field by field: copying the peer's state or a keypair costs more than the lookup.
        let found: (receiveKey: SymmetricKey, expired: Bool)?
        if peers[key]?.current?.localIndex == index {
            found = (peers[key]!.current!.receiveKey, peers[key]!.current!.isExpired(now: now))
        } else if peers[key]?.next?.localIndex == index {
            found = (peers[key]!.next!.receiveKey, peers[key]!.next!.isExpired(now: now))
        } else if peers[key]?.previous?.localIndex == index {
            found = (peers[key]!.previous!.receiveKey, peers[key]!.previous!.isExpired(now: now))
        } else {
            found = nil
        }
        guard let found else { drop(.unknownReceiver, nil); return nil }
        guard !found.expired else { drop(.expiredKeypair, key); return nil }
        return ReceiveJob(peer: key, localIndex: index, key: found.receiveKey, counter: header.counter)
    }

    /// Second half, under `lock`, after the message at `datagram` authenticated and
    /// decrypted into `plain` (`count` bytes): replay check, key confirmation, roaming,
    /// counters, cryptokey routing and the packet filter. Returns the inner packet's
    /// length if it is to be written to TUN.
    private func completeTransport(_ job: ReceiveJob, _ datagram: UnsafeRawBufferPointer, from source: Endpoint,
                                   plain: UnsafeMutableRawBufferPointer, count: Int, now: ContinuousClock.Instant) -> Int? {
        let key = job.peer
        guard peers[key] != nil else { drop(.unknownReceiver, nil); return nil }
        // The keypair may have rotated while the lock was released: find it again.
        let slot: Slot
        let accepted: Bool
        if peers[key]!.current?.localIndex == job.localIndex {
            slot = .current
            accepted = peers[key]!.current!.acceptCounter(job.counter)
        } else if peers[key]!.next?.localIndex == job.localIndex {
            slot = .next
            accepted = peers[key]!.next!.acceptCounter(job.counter)
        } else if peers[key]!.previous?.localIndex == job.localIndex {
            slot = .previous
            accepted = peers[key]!.previous!.acceptCounter(job.counter)
        } else {
            drop(.unknownReceiver, nil)
            return nil
        }
        guard accepted else {
            // Do not hand out a replayed plaintext, even though it authenticated.
            if let base = plain.baseAddress { sodium_memzero(base, count) }
            drop(.replayed, key)
            log(.debug, "\(short(key)): dropping replayed transport message (counter \(job.counter))")
            return nil
        }

        if slot == .next {
            // Key confirmation: the initiator uses the new keypair, so we do too.
            if let previous = peers[key]!.previous { device.releaseIndex(previous.localIndex) }
            peers[key]!.previous = peers[key]!.current
            peers[key]!.current = peers[key]!.next
            peers[key]!.next = nil
            peers[key]!.handshakeStartedAt = nil
            peers[key]!.retransmitAt = nil
            markEstablished(key)
            sendStaged(key, now: now, keepaliveIfEmpty: false)
        }
        follow(key, to: source)
        peers[key]!.newHandshakeAt = nil
        peers[key]!.counters.receivedBytes &+= UInt64(datagram.count)
        peers[key]!.counters.receivedPackets &+= 1
        counters.receivedBytes &+= UInt64(datagram.count)
        counters.receivedPackets &+= 1

        // Keep the key fresh (receiving side): an initiator whose keypair nears
        // REJECT_AFTER_TIME starts a new handshake before it must stop sending.
        if let current = peers[key]!.current, current.isInitiator, peers[key]!.handshakeStartedAt == nil,
           now - current.createdAt >= WG.REJECT_AFTER_TIME - WG.KEEPALIVE_TIMEOUT - WG.REKEY_TIMEOUT {
            initiateHandshake(key, now: now)
        }

        if count == 0 {
            log(.debug, "\(short(key)): received keepalive")
            return nil
        }
        let packet = UnsafeRawBufferPointer(rebasing: plain[..<count])
        guard let length = IPPacket.declaredLength(of: packet), let inner = IPPacket.source(of: packet) else {
            drop(.malformedPacket, key)
            log(.debug, "\(short(key)): dropping malformed inner packet")
            return nil
        }
        guard allowedIPs.lookup(inner) == key else {
            drop(.disallowedSource, key)
            log(.debug, "\(short(key)): dropping packet from disallowed source \(inner)")
            return nil
        }
        if let filter = hooks.packetFilter,
           HookScope.run(self, { filter(.inbound, key, UnsafeRawBufferPointer(rebasing: plain[..<length])) }) == .drop {
            drop(.filtered, key)
            return nil
        }
        if peers[key]!.keepaliveAt == nil { peers[key]!.keepaliveAt = now + WG.KEEPALIVE_TIMEOUT }
        return length
    }
}
