// kstate: the project's command-line tool: the live-update demo (the main job), and a look inside regions, as
// the kernel's KHO debugfs files and CRIU's crit give one.
using KState.Cli;

using var binaryStdout = Console.OpenStandardOutput();
return App.Run(args, Console.Out, Console.Error, binaryStdout);
