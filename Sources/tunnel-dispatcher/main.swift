import CPosix
import TunnelAgent

exit(Agent.main(arguments: Agent.commandLineArguments()))
