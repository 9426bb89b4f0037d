// Test-only: a throwaway PostgreSQL 15 cluster (Debian's postgresql-15) for the tests that need a real
// server: initdb in a test directory, started with pg_ctl on a free loopback port (as the postgres user when
// the test runs as root; there is no systemd), trust authentication on loopback only, stopped and deleted
// afterwards. It runs with fsync=off (and initdb --no-sync): a throwaway cluster needs no protection from an
// OS crash, and its creation, every CREATE DATABASE and COMMIT of the tests is cheaper (a stop and start of
// the server keeps what committed). HOOKWIRE_PG_BIN overrides the binaries' directory (default
// /usr/lib/postgresql/15/bin).
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

namespace hookwire::store::testing {

class PgCluster {
 public:
  // nullptr (with the reason added as a test failure) when the cluster cannot be made or started.
  static std::unique_ptr<PgCluster> start(const std::filesystem::path& dir) {
    auto c = std::unique_ptr<PgCluster>(new PgCluster(dir));
    std::filesystem::create_directories(dir);
    if (c->as_root_ && !run("chown postgres:postgres " + dir.string())) return fail(*c, "chown");
    if (!c->pg("initdb --no-sync -D " + c->data() + " -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 > " +
               (dir / "initdb.log").string() + " 2>&1"))
      return fail(*c, "initdb");
    c->port_ = free_port();
    if (!c->start_server()) return fail(*c, "pg_ctl start");
    return c;
  }

  ~PgCluster() {
    if (running_) pg("pg_ctl -D " + data() + " -m immediate -w stop > /dev/null 2>&1");
    std::error_code ignored;
    std::filesystem::remove_all(dir_ / "data", ignored);
  }

  std::string url(const std::string& db = "postgres") const {
    return "postgres://postgres@127.0.0.1:" + std::to_string(port_) + "/" + db;
  }
  int port() const { return port_; }

  // A fast shutdown (clients are disconnected, committed data kept); start_server() brings it back on the
  // same port (and does nothing while it runs).
  bool stop_server() {
    running_ = !pg("pg_ctl -D " + data() + " -m fast -w stop > /dev/null 2>&1");
    return !running_;
  }
  bool start_server() {
    if (running_) return true;
    running_ = pg("pg_ctl -D " + data() + " -l " + (dir_ / "server.log").string() + " -w -t 60 -o \"-p " +
                  std::to_string(port_) + " -c listen_addresses=127.0.0.1 -c unix_socket_directories=" +
                  " -c fsync=off\" start > /dev/null 2>&1");  // TCP on loopback only: no Unix socket
    return running_;
  }
  std::string server_log() const { return read((dir_ / "server.log").string()); }

 private:
  explicit PgCluster(std::filesystem::path dir) : dir_(std::move(dir)), as_root_(::geteuid() == 0) {
    const char* bin = std::getenv("HOOKWIRE_PG_BIN");
    bin_ = bin ? bin : "/usr/lib/postgresql/15/bin";
  }
  std::string data() const { return (dir_ / "data").string(); }
  static bool run(const std::string& command) { return std::system(command.c_str()) == 0; }
  bool pg(const std::string& command) const {
    const std::string full = bin_ + "/" + command;
    return run(as_root_ ? "runuser -u postgres -- sh -c '" + full + "'" : full);
  }
  static std::string read(const std::string& file) {
    std::ifstream in(file);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  static std::unique_ptr<PgCluster> fail(const PgCluster& c, const char* step) {
    ADD_FAILURE() << "PostgreSQL test cluster: " << step << " failed in " << c.dir_ << "\n"
                  << read((c.dir_ / "initdb.log").string()) << read((c.dir_ / "server.log").string());
    return nullptr;
  }
  static int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
  }

  std::filesystem::path dir_;
  bool as_root_;
  std::string bin_;
  int port_ = 0;
  bool running_ = false;
};

}  // namespace hookwire::store::testing
