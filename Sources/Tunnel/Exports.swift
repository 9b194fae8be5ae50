// Peers are named by NetPrimitives' PublicKey and routed by its IPAddress and IPPrefix, so a
// module that drives the tunnel gets those types with Tunnel.
@_exported import NetPrimitives
