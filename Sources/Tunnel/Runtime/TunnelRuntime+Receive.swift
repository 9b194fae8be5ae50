// The inbound data path of TunnelRuntime (wireguard-go's receive.go): the UDP thread's loop,
// one recvmmsg batch at a time: handshake messages handed to the handshake driver, each
// transport message's keypair found under the lock, decryption outside it, then replay
// window, key confirmation, roaming, source check and packet filter, and the TUN writes.

import CSodium
import Foundation

extension TunnelRuntime {
    /// Receives up to `batchSize` messages per `recvmmsg` (each a run of datagrams of one
    /// flow when the socket coalesces), handles their datagrams a chunk at a time under one
    /// lock acquisition per step, then writes the decrypted packets to TUN outside the lock.
    func udpLoop() {
        let coalescing = socket.offloads.coalescingActive
        let batch = UDPReceiveBatch(messages: Self.batchSize,
                                    messageSize: coalescing ? UDPReceiveBatch.coalescedMessageSize : Self.messageBufferSize)
        let vector = InboundVector(receiving: batch, chunkSize: Self.receiveChunkSize)
        let writer = TunBatchWriter(tun: tun, chunkSize: Self.receiveChunkSize)
        let worker = parallelCrypto ? CryptoWorker(name: "ztp-open") : nil
        defer { worker?.stop() }
        while nextRound(1) {
            do {
                let count = try socket.receive(into: batch)
                if batch.dropped > 0 { countDrops(.malformedMessage, batch.dropped) }
                if count == 0 {
                    if batch.messageCount == 0 { _ = try socket.waitReadable(timeoutMilliseconds: 200) }
                    continue
                }
                var first = 0
                while first < count {
                    let chunk = min(Self.receiveChunkSize, count - first)
                    inbound(vector, first: first, count: chunk, writer: writer, worker: worker)
                    first += chunk
                }
            } catch {
                log(.error, "UDP receive failed: \(error)")
                if error.code == EBADF { return }
                usleep(10_000)
            }
        }
    }

    /// Counts `count` drops of one reason that no peer can be blamed for, in one lock hold.
    func countDrops(_ reason: DropReason, _ count: Int) {
        lock.lock()
        for _ in 0..<count { drop(reason, nil) }
        lock.unlock()
    }

    /// Handles datagrams `first..<first + count` of the last receive: handshake messages and
    /// the lookup of each transport message's keypair under the lock; decryption outside it;
    /// then, under the lock again, replay check and bookkeeping. Decrypted packets go to TUN
    /// through `writer` after the last unlock.
    private func inbound(_ vector: InboundVector, first: Int, count: Int, writer: TunBatchWriter, worker: CryptoWorker?) {
        let batch = vector.batch
        let now = ContinuousClock.now
        lock.lock()
        for i in 0..<count {
            vector.jobs[i] = nil
            vector.plainLengths[i] = 0
            let datagram = UnsafeRawBufferPointer(batch.datagram(first + i))
            guard datagram.count >= 4, let source = Endpoint(storage: batch.sourceAddress(first + i)) else {
                drop(.malformedMessage, nil)
                continue
            }
            let type = UInt32(littleEndian: datagram.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
            switch MessageType(rawValue: type) {
            case .transport?:
                vector.jobs[i] = lookupTransport(datagram, now: now)
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

        // Decrypt outside the lock, on both cores when there is a helper; each datagram
        // writes only its own plaintext and length.
        crypto(worker, count) { i in
            guard let job = vector.jobs[i] else { return }
            let datagram = UnsafeRawBufferPointer(batch.datagram(first + i))
            vector.plainLengths[i] = (try? Keypair.open(datagram, into: vector.plaintext(first + i), key: job.key,
                                                        counter: job.counter)) ?? -1
        }
        var decrypted = 0
        for i in 0..<count where vector.jobs[i] != nil && vector.plainLengths[i] >= 0 { decrypted += 1 }

        if decrypted < count {
            lock.lock()
            for i in 0..<count where vector.jobs[i] != nil && vector.plainLengths[i] < 0 {
                drop(.authenticationFailed, vector.jobs[i]!.peer)
                // Forget it entirely: an unauthenticated message must not reach the
                // bookkeeping below (replay window, roaming).
                vector.jobs[i] = nil
                vector.plainLengths[i] = 0
            }
            lock.unlock()
        }
        var ready = 0
        if decrypted > 0 {
            // Consecutive packets of one peer and flow are decided once.
            var run = FilterRun(.inbound)
            lock.lock()
            for i in 0..<count where vector.plainLengths[i] >= 0 {
                guard let job = vector.jobs[i] else { continue }
                let datagram = UnsafeRawBufferPointer(batch.datagram(first + i))
                let source = Endpoint(storage: batch.sourceAddress(first + i))!
                let length = completeTransport(job, datagram, from: source, plain: vector.plaintext(first + i),
                                               count: vector.plainLengths[i], run: &run, now: now) ?? 0
                vector.plainLengths[i] = length
                if length > 0 {
                    vector.order[ready] = i
                    ready += 1
                }
            }
            HookScope.run(self) { run.finish(hooks.packetFilterRepeated) }
            lock.unlock()
        }
        for i in 0..<count { vector.jobs[i] = nil }
        fireEvents()
        guard ready > 0 else { return }
        let outcome = writer.write(count: ready) { k in
            let i = vector.order[k]
            return UnsafeRawBufferPointer(rebasing: vector.plaintext(first + i)[..<vector.plainLengths[i]])
        }
        if outcome.failed > 0 {
            if let error = outcome.firstError { log(.debug, "TUN write failed: \(error)") }
            if let error = outcome.coalescingError { log(.error, "TUN coalescing failed: \(error)") }
            countDrops(.ioError, outcome.failed)
        }
    }

    private enum Slot { case current, previous, next }

    /// Datagrams handled per lock acquisition and per coalesced TUN write vector: a
    /// coalescing receive gives up to 64 datagrams per message.
    static let receiveChunkSize = 128

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
        guard let key = device.peer(forIndex: index), let peer = peers[key] else { drop(.unknownReceiver, nil); return nil }
        // Field by field: copying the peer's state or a keypair costs more than the lookup.
        let found: (receiveKey: SymmetricKey, expired: Bool)?
        if peer.current?.localIndex == index {
            found = (peer.current!.receiveKey, peer.current!.isExpired(now: now))
        } else if peer.next?.localIndex == index {
            found = (peer.next!.receiveKey, peer.next!.isExpired(now: now))
        } else if peer.previous?.localIndex == index {
            found = (peer.previous!.receiveKey, peer.previous!.isExpired(now: now))
        } else {
            found = nil
        }
        guard let found else { drop(.unknownReceiver, nil); return nil }
        guard !found.expired else { drop(.expiredKeypair, key); return nil }
        return ReceiveJob(peer: key, localIndex: index, key: found.receiveKey, counter: header.counter)
    }

    /// Second half, under `lock`, after the message at `datagram` authenticated and
    /// decrypted into `plain` (`count` bytes): replay check, key confirmation, roaming,
    /// counters, cryptokey routing and the packet filter (through `run`, which shares one
    /// verdict among consecutive packets of one flow). Returns the inner packet's
    /// length if it is to be written to TUN.
    private func completeTransport(_ job: ReceiveJob, _ datagram: UnsafeRawBufferPointer, from source: Endpoint,
                                   plain: UnsafeMutableRawBufferPointer, count: Int, run: inout FilterRun,
                                   now: ContinuousClock.Instant) -> Int? {
        let key = job.peer
        // One dictionary lookup: the state is a class, so `peer` is the entry itself.
        guard let peer = peers[key] else { drop(.unknownReceiver, nil); return nil }
        // The keypair may have rotated while the lock was released: find it again.
        let slot: Slot
        let accepted: Bool
        if peer.current?.localIndex == job.localIndex {
            slot = .current
            accepted = peer.current!.acceptCounter(job.counter)
        } else if peer.next?.localIndex == job.localIndex {
            slot = .next
            accepted = peer.next!.acceptCounter(job.counter)
        } else if peer.previous?.localIndex == job.localIndex {
            slot = .previous
            accepted = peer.previous!.acceptCounter(job.counter)
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
            if let previous = peer.previous { device.releaseIndex(previous.localIndex) }
            peer.previous = peer.current
            peer.current = peer.next
            peer.next = nil
            peer.handshakeStartedAt = nil
            peer.retransmitAt = nil
            markEstablished(key)
            sendStaged(key, now: now, keepaliveIfEmpty: false)
        }
        follow(key, to: source)
        peer.newHandshakeAt = nil
        peer.counters.receivedBytes &+= UInt64(datagram.count)
        peer.counters.receivedPackets &+= 1
        counters.receivedBytes &+= UInt64(datagram.count)
        counters.receivedPackets &+= 1

        // Keep the key fresh (receiving side): an initiator whose keypair nears
        // REJECT_AFTER_TIME starts a new handshake before it must stop sending.
        if peer.current?.isInitiator == true, peer.handshakeStartedAt == nil,
           now - peer.current!.createdAt >= WG.REJECT_AFTER_TIME - WG.KEEPALIVE_TIMEOUT - WG.REKEY_TIMEOUT {
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
        if let filter = hooks.packetFilter, HookScope.run(self, {
            run.verdict(key, UnsafeRawBufferPointer(rebasing: plain[..<length]), filter: filter,
                        repeated: hooks.packetFilterRepeated)
        }) == .drop {
            drop(.filtered, key)
            return nil
        }
        if peer.keepaliveAt == nil { peer.keepaliveAt = now + WG.KEEPALIVE_TIMEOUT }
        return length
    }
}
