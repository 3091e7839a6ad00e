import TunnelWire
