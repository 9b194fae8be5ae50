// The deny list takes NetPrimitives' IPPrefix, so a module that drives the guard gets the type with XDP.
@_exported import NetPrimitives
