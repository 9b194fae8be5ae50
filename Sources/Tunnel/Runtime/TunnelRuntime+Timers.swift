// The protocol timers of TunnelRuntime (paper section 6, wireguard-go's timers.go): the
// timer thread, one tick over the peers (retransmission, keepalives, new handshakes,
// persistent keepalives) and keypair expiry at REJECT_AFTER_TIME.

import Foundation

extension TunnelRuntime {
    func timerLoop() {
        while nextRound(2) {
            _ = poll(nil, 0, Self.timerInterval)
            runTimers(now: .now)
        }
    }

    /// One pass of the timers as of `now` (tests pass a later instant to expire keypairs).
    func runTimers(now: ContinuousClock.Instant) {
        lock.lock()
        tick(now: now)
        lock.unlock()
        fireEvents()
    }

    /// One pass over the peers, under `lock`. Each peer's state is read through its object,
    /// not looked up by key. A peer without an endpoint is skipped at once: it has had no
    /// handshake and no session (both set the endpoint, which is never cleared), so none of
    /// its timers can be set, and its deadlines are not even read (each read of an
    /// optional `ContinuousClock.Instant` is a generic copy, and 10,000 peers' worth held
    /// the lock for milliseconds).
    private func tick(now: ContinuousClock.Instant) {
        for state in Array(peers.values) {
            guard state.endpoint != nil else { continue }
            let key = state.publicKey
            if let at = state.retransmitAt, now >= at {
                state.retransmitAt = nil
                if let started = state.handshakeStartedAt, now - started >= WG.REKEY_ATTEMPT_TIME {
                    log(.info, "\(short(key)): handshake did not complete after \(WG.REKEY_ATTEMPT_TIME), giving up")
                    state.handshakeStartedAt = nil
                    state.staged.removeAll()
                } else {
                    log(.debug, "\(short(key)): handshake did not complete after \(WG.REKEY_TIMEOUT), retrying")
                    initiateHandshake(key, now: now, force: true)
                }
            }
            if let at = state.keepaliveAt, now >= at {
                state.keepaliveAt = nil
                if canSend(key, now: now) { sendKeepalive(key, now: now) }
            }
            if let at = state.newHandshakeAt, now >= at {
                state.newHandshakeAt = nil
                log(.debug, "\(short(key)): no reply for \(WG.KEEPALIVE_TIMEOUT + WG.REKEY_TIMEOUT), new handshake")
                initiateHandshake(key, now: now)
            }
            if let interval = state.persistentKeepalive, state.endpoint != nil,
               state.lastSentAt.map({ now - $0 >= interval }) ?? true {
                sendKeepalive(key, now: now)
            }
            if state.current != nil || state.previous != nil || state.next != nil || state.sessionUp {
                expireKeypairs(key, now: now)
            }
        }
        coalescer.expire(now: now)
    }

    private func expireKeypairs(_ key: PublicKey, now: ContinuousClock.Instant) {
        if let k = peers[key]!.previous, k.isExpired(now: now) { device.releaseIndex(k.localIndex); peers[key]!.previous = nil }
        if let k = peers[key]!.next, k.isExpired(now: now) { device.releaseIndex(k.localIndex); peers[key]!.next = nil }
        if let k = peers[key]!.current, k.isExpired(now: now) {
            device.releaseIndex(k.localIndex)
            peers[key]!.current = nil
            log(.info, "\(short(key)): session expired after \(WG.REJECT_AFTER_TIME)")
        }
        if peers[key]!.sessionUp, peers[key]!.current == nil, peers[key]!.next == nil {
            peers[key]!.sessionUp = false
            events.append((false, key, peers[key]!.endpoint))
        }
    }
}
