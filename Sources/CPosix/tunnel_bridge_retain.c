// The static agent only (scripts/build-static.sh links these with --wrap): the Embedded
// Swift runtime of swiftc 6.3.1 returns a different value from swift_bridgeObjectRetain(_n)
// than it was given, which the compiler's own contract forbids.
//
// The compiler declares the first argument of both `returned`: the call gives its argument
// back unchanged. On AArch64 that makes x0 a callee-saved register for the call
// (CSR_AArch64_AAPCS_ThisReturn), so the caller keeps using x0 as the argument afterwards.
// The runtime returns the argument with the bridge-object tag bits cleared (& ~7 &
// 0x8FFF...), also for immortal values that it does not retain. A small String's second
// word is such a value: 0xE9000000_00000068 ("/bin/bash", nine ASCII bytes) came back as
// 0x89000000_00000068, which reads as a large string whose count is its first eight bytes;
// appending to it asked for 1.8 GB and trapped (a RunEx with the login environment, on
// aarch64). The wrappers retain as the runtime does and return the argument itself.
#ifdef TUNNEL_EMBEDDED_MAIN
void *__real_swift_bridgeObjectRetain(void *object);
void *__real_swift_bridgeObjectRetain_n(void *object, int count);

void *__wrap_swift_bridgeObjectRetain(void *object) {
    __real_swift_bridgeObjectRetain(object);
    return object;
}

void *__wrap_swift_bridgeObjectRetain_n(void *object, int count) {
    __real_swift_bridgeObjectRetain_n(object, count);
    return object;
}
#endif
