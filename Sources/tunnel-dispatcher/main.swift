import CPosix
import TunnelAgent

// The static (Embedded) build has no CommandLine; its C `main` (CPosix) keeps argv and
// calls `tunnel_swift_main`, which this file becomes via -entry-point-function-name.
#if hasFeature(Embedded)
var arguments: [String] = []
var index: Int32 = 1
while index < tp_argc {
    if let argument = tp_argv[Int(index)] { arguments.append(String(cString: argument)) }
    index += 1
}
#else
let arguments = Array(CommandLine.arguments.dropFirst())
#endif
exit(Agent.main(arguments: arguments))
