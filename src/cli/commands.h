#pragma once

// One function per command group; each lives in its own file in src/cli/.
// argv[0] is the group name ("proxy", "static", ...); each returns the process exit code.
namespace gravity::cli {

int ProxyCommand(int argc, char** argv);     // proxy_cmd.cpp:   gravity proxy run|deploy|ls|rm|...
int StaticCommand(int argc, char** argv);    // static_cmd.cpp:  gravity static DIR --port N
int DaemonCommand(int argc, char** argv);    // daemon_cmd.cpp:  gravity daemon -f stack.yml
int RunsCommand(int argc, char** argv);      // runs_cmd.cpp:    gravity runs | run show | deploy
int StackCommand(int argc, char** argv);     // stack_cmd.cpp:   gravity up | down
int ProxyRestartCommand(int argc, char** argv);  // stack_cmd.cpp: gravity proxy restart
int SuperviseCommand(int argc, char** argv);     // supervise_cmd.cpp: gravity supervise
int CertsCommand(int argc, char** argv);         // certs_cmd.cpp: gravity certs
int VersionCommand(int argc, char** argv);       // version_cmd.cpp: gravity version
int InstallServiceCommand(int argc, char** argv);  // service_cmd.cpp: gravity install-service
int ReleaseCommand(int argc, char** argv);   // release_cmd.cpp: status | rollback | promote |
                                             //                  releases | logs

}  // namespace gravity::cli
