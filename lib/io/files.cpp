#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <fmt/format.h>

#include "core/user_text.hpp"
#include "descent/error.hpp"
#include "descent/io.hpp"

namespace descent {

namespace {

// Where a write to a path goes.
struct Target {
  enum class Kind { stream, in_place, file } kind = Kind::file;
  int fd = -1;                 // stream: the descriptor
  bool pipe = false;           // in_place: a named pipe (else a character device)
  std::filesystem::path path;  // in_place and file: what is opened or replaced
  bool exists = false;         // file: whether it is there, `old` its status
  struct stat old {};
};

// /dev/stdout, /dev/stderr, /dev/fd/N and /proc/self/fd/N name a descriptor this process
// holds. It is written as it is: opening the name again would start at offset 0 without the
// shell's O_APPEND (`>> log` would be overwritten), and following its link to a file and
// renaming over that file would pull the file from under the shell.
std::optional<int> stream_descriptor(const std::filesystem::path& path) {
  const std::string s = path.lexically_normal().string();
  if (s == "/dev/stdout") return 1;
  if (s == "/dev/stderr") return 2;
  for (const char* prefix : {"/dev/fd/", "/proc/self/fd/"}) {
    if (!s.starts_with(prefix)) continue;
    int fd = -1;
    const char* first = s.data() + std::strlen(prefix);
    const auto [end, ec] = std::from_chars(first, s.data() + s.size(), fd);
    if (ec == std::errc() && end == s.data() + s.size() && fd >= 0) return fd;
  }
  return std::nullopt;
}

// The kernel follows a symbolic link in a sticky, world-writable directory (/tmp) only for
// the link's owner or the directory's (fs.protected_symlinks); a write that follows links by
// itself must refuse the rest, or a link planted in /tmp would aim root's write at any file.
void check_link_may_be_followed(const std::filesystem::path& link) {
  struct stat l {};
  struct stat d {};
  const std::filesystem::path dir = link.has_parent_path() ? link.parent_path() : ".";
  if (::lstat(link.c_str(), &l) != 0 || ::stat(dir.c_str(), &d) != 0) return;
  const bool shared = (d.st_mode & S_ISVTX) != 0 && (d.st_mode & S_IWOTH) != 0;
  if (shared && l.st_uid != ::geteuid() && l.st_uid != d.st_uid) {
    throw Error(
        fmt::format("\"{}\" is a symbolic link that another user left in a shared "
                    "directory: not followed (name the file it points to)",
                    link.string()));
  }
}

// Where `requested` leads: a descriptor, a device or pipe written in place, or a regular file
// (there or not) replaced by rename. Symbolic links are followed, so that the file a link
// names is replaced and the link stays. Throws descent::Error with the reason alone.
Target resolve(const std::filesystem::path& requested) {
  if (requested.empty()) throw Error("the file name is empty");
  // The system would take the name up to the NUL: another file than the one named.
  if (requested.native().find('\0') != std::string::npos)
    throw Error("the name holds a NUL character");
  Target t;
  std::filesystem::path p = requested;
  for (int hops = 0;; ++hops) {
    if (const auto fd = stream_descriptor(p)) {
      t.kind = Target::Kind::stream;
      t.fd = *fd;
      return t;
    }
    std::error_code ec;
    if (!std::filesystem::is_symlink(std::filesystem::symlink_status(p, ec))) break;
    if (hops == 40) throw Error("too many levels of symbolic links");
    check_link_may_be_followed(p);
    const std::filesystem::path target = std::filesystem::read_symlink(p, ec);
    if (ec) throw Error(fmt::format("cannot read the link \"{}\": {}", p.string(), ec.message()));
    p = target.is_absolute() ? target : p.parent_path() / target;
  }
  struct stat st {};
  const bool exists = ::stat(p.c_str(), &st) == 0;
  const std::string via =
      p == requested ? "it" : fmt::format("its link leads to \"{}\", which", p.string());
  if (exists && (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
    t.kind = Target::Kind::in_place;
    t.pipe = S_ISFIFO(st.st_mode);
    t.path = p;
    return t;
  }
  if (exists && S_ISDIR(st.st_mode)) throw Error(fmt::format("{} is a directory", via));
  if (exists && !S_ISREG(st.st_mode))
    throw Error(fmt::format("{} is not a regular file (a block device or a socket)", via));
  const std::filesystem::path dir = p.has_parent_path() ? p.parent_path() : ".";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    if (std::filesystem::exists(dir, ec))
      throw Error(fmt::format("\"{}\" is a file, not a directory", dir.string()));
    // Not "does not exist" for a directory the system cannot reach (a loop of links, no
    // permission to look).
    if (ec && ec != std::errc::no_such_file_or_directory)
      throw Error(fmt::format("directory \"{}\": {}", dir.string(), ec.message()));
    throw Error(
        fmt::format("directory \"{}\" does not exist{}", dir.string(),
                    p == requested ? "" : fmt::format(" (its link leads to \"{}\")", p.string())));
  }
  t.path = p;
  t.exists = exists;
  t.old = st;
  return t;
}

// A file the user took write permission from is kept, although the directory would let the
// rename replace it: what ld or sed -i would do, but not what one who protected a model
// expects, and cp would refuse it too. Root passes any access check, so the mode's write bits
// are read as well. Checked before the work only (check_output_file): under a umask such as
// 0277, a run's own checkpoint is made read-only, and its next write must replace it.
void refuse_read_only(const Target& t, const std::filesystem::path& requested) {
  if (t.kind != Target::Kind::file || !t.exists) return;
  const bool no_write_bits = (t.old.st_mode & (S_IWUSR | S_IWGRP | S_IWOTH)) == 0;
  const bool denied = !no_write_bits &&
                      ::faccessat(AT_FDCWD, t.path.c_str(), W_OK, AT_EACCESS) != 0 &&
                      errno == EACCES;
  if (!no_write_bits && !denied) return;
  const std::string via =
      t.path == requested ? "it" : fmt::format("its link leads to \"{}\", which", t.path.string());
  if (denied) {
    throw Error(
        fmt::format("{} may not be written by this user (owner uid {}, mode {:04o}): "
                    "write to another file",
                    via, t.old.st_uid, t.old.st_mode & 07777));
  }
  throw Error(
      fmt::format("{} is read-only (mode {:04o}): make it writable (chmod u+w) or write "
                  "to another file",
                  via, t.old.st_mode & 07777));
}

// Writes every byte, retrying after signals; false (with errno set) when a write fails.
bool write_all(int fd, std::span<const char> bytes) {
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    written += static_cast<std::size_t>(n);
  }
  return true;
}

// A character device (/dev/null, a terminal) or a named pipe is written where it is: renaming
// a file over it would replace the device or the pipe with an ordinary file.
void write_in_place(const std::string& name, const Target& t, std::span<const char> bytes) {
  // A pipe nobody reads would block the open forever: refuse it instead.
  const int fd =
      ::open(t.path.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY | (t.pipe ? O_NONBLOCK : 0));
  if (fd < 0) {
    const int err = errno;
    throw Error(fmt::format(
        "cannot write \"{}\": {}", name,
        t.pipe && err == ENXIO ? "no process is reading that pipe" : std::strerror(err)));
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (t.pipe && flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  const bool ok = write_all(fd, bytes);
  const int err = errno;
  ::close(fd);
  if (!ok) {
    throw Error(fmt::format("cannot write \"{}\": write failed: {}", name, std::strerror(err)));
  }
}

// A new file of its own in `dir`, opened for writing, or -1 with errno set. open(O_EXCL)
// with mode 0666 rather than mkstemp (0600): the file gets the permissions an ordinary new
// file gets under the process's umask.
// The temporary file being written, for remove_partial_output() in a signal handler: its name
// in a fixed buffer (a handler may not allocate), valid while `in_flight` is set. Writes
// happen on one thread at a time (the CLI's main thread).
char in_flight_name[4096];
volatile std::sig_atomic_t in_flight = 0;

void track(const std::string& name) noexcept {
  in_flight = 0;
  if (name.size() >= sizeof in_flight_name) return;  // not tracked (PATH_MAX is 4096)
  std::memcpy(in_flight_name, name.c_str(), name.size() + 1);
  in_flight = 1;
}

// After the file was renamed or removed: a signal in between finds nothing to remove.
void untrack() noexcept {
  in_flight = 0;
}

int create_temporary(const std::filesystem::path& dir, std::string& name) {
  static std::atomic<unsigned> counter{0};
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    // A short name of its own: the target's name may already be as long as names get.
    name = (dir / fmt::format(".descent-{}-{}.tmp", ::getpid(), counter.fetch_add(1))).string();
    // The signals a handler may end the process on wait while the file is made and tracked:
    // one in between would leave it behind untracked. (Tracking the name first instead could
    // remove another process's file of that name, when the open finds one.)
    sigset_t stopping, before;
    sigemptyset(&stopping);
    for (const int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&stopping, sig);
    pthread_sigmask(SIG_BLOCK, &stopping, &before);
    fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    const int err = errno;
    if (fd >= 0) track(name);
    pthread_sigmask(SIG_SETMASK, &before, nullptr);
    if (fd < 0 && err != EEXIST) {
      errno = err;
      break;
    }
  }
  return fd;
}

}  // namespace

void remove_partial_output() noexcept {
  if (in_flight != 0) ::unlink(in_flight_name);
}

void check_output_file(const std::filesystem::path& path) {
  const Target t = resolve(path);
  if (t.kind == Target::Kind::stream) {
    if (::fcntl(t.fd, F_GETFD) < 0)
      throw Error(fmt::format("descriptor {} is not open in this process", t.fd));
    return;
  }
  if (t.kind != Target::Kind::file) return;
  refuse_read_only(t, path);
  const std::filesystem::path dir = t.path.has_parent_path() ? t.path.parent_path() : ".";
  // What would fail only after the work: a name longer than the directory takes (the rename
  // fails), and a directory that takes no new file (read-only, /proc, /sys, no permission):
  // a temporary file is made there and removed, as the write will make one.
  const long longest = ::pathconf(dir.c_str(), _PC_NAME_MAX);
  if (longest > 0 && t.path.filename().string().size() > static_cast<std::size_t>(longest)) {
    throw Error(fmt::format("its name is {} bytes long; \"{}\" takes names of at most {}",
                            t.path.filename().string().size(), dir.string(), longest));
  }
  std::string probe;
  const int fd = create_temporary(dir, probe);
  if (fd < 0) {
    throw Error(
        fmt::format("cannot create a file in \"{}\": {}", dir.string(), std::strerror(errno)));
  }
  ::close(fd);
  // A directory that takes files but lets none be removed or replaced (chattr +a) would
  // refuse the rename at the end.
  const int removed = ::unlink(probe.c_str());
  untrack();
  if (removed != 0) {
    throw Error(fmt::format("cannot remove a file from \"{}\" (the write replaces one): {}",
                            dir.string(), std::strerror(errno)));
  }
}

std::filesystem::path output_destination(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  const Target t = resolve(path);
  if (t.kind == Target::Kind::stream) return path;
  std::error_code ec;
  const fs::path absolute = fs::absolute(t.path, ec);
  if (ec) return t.path.lexically_normal();
  const fs::path dir = fs::weakly_canonical(absolute.parent_path(), ec);
  return ec ? absolute.lexically_normal() : (dir / absolute.filename()).lexically_normal();
}

void write_file_atomically(const std::filesystem::path& requested, std::span<const char> bytes) {
  // The name the caller gave, for messages (a NUL in it shown, not cutting them short).
  const std::string name = detail::printable(requested.string(), std::string::npos);
  Target t;
  try {
    t = resolve(requested);
  } catch (const Error& e) {
    throw Error(fmt::format("cannot write \"{}\": {}", name, e.what()));
  }
  if (t.kind == Target::Kind::stream) {
    if (!write_all(t.fd, bytes)) {
      throw Error(fmt::format("cannot write \"{}\": write failed: {}", name, std::strerror(errno)));
    }
    return;
  }
  if (t.kind == Target::Kind::in_place) {
    write_in_place(name, t, bytes);
    return;
  }
  const std::filesystem::path& path = t.path;
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";

  std::string tmp;
  const int fd = create_temporary(dir, tmp);
  if (fd < 0) {
    throw Error(fmt::format("cannot write \"{}\": cannot create a temporary file in \"{}\": {}",
                            name, dir.string(), std::strerror(errno)));
  }
  auto fail = [&](const char* what) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    untrack();
    throw Error(fmt::format("cannot write \"{}\": {}: {}", name, what, std::strerror(err)));
  };
  // A file that is replaced keeps its owner and permissions (a 0600 model stays 0600), as
  // far as the process may set them: the owner only as root, and neither on a file system
  // without permissions. The mode after the owner, which chown would clear.
  if (t.exists) {
    if (t.old.st_uid != ::geteuid() || t.old.st_gid != ::getegid()) {
      [[maybe_unused]] const int owned = ::fchown(fd, t.old.st_uid, t.old.st_gid);
    }
    [[maybe_unused]] const int moded = ::fchmod(fd, t.old.st_mode & 07777);
  }
  if (!write_all(fd, bytes)) fail("write failed");
  if (::fsync(fd) != 0) fail("fsync failed");
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    untrack();
    throw Error(fmt::format("cannot write \"{}\": close failed: {}", name, std::strerror(err)));
  }
  // For the crash test: die between writing the new file and putting it in place. For the
  // signal test: wait there, so that a signal surely finds a partial file to remove.
  if (std::getenv("DESCENT_TEST_CRASH_BEFORE_RENAME") != nullptr) std::raise(SIGKILL);
  if (const char* pause = std::getenv("DESCENT_TEST_PAUSE_BEFORE_RENAME")) {
    const double seconds = std::strtod(pause, nullptr);
    if (seconds > 0.0 && seconds <= 3600.0)
      std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    untrack();
    throw Error(fmt::format("cannot write \"{}\": rename failed: {}", name, std::strerror(err)));
  }
  untrack();
  // Make the rename itself durable; a failure here loses nothing already written.
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

void write_history_csv(const std::filesystem::path& path, const std::vector<EpochRecord>& history) {
  auto cell = [](double v) { return std::isnan(v) ? std::string() : fmt::format("{}", v); };
  const std::size_t layers = history.empty() ? 0 : history.front().layer_grad_norms.size();
  std::string text =
      "epoch,step,train_loss,val_loss,val_accuracy,grad_norm,lr,seconds,samples_per_second";
  for (std::size_t l = 1; l <= layers; ++l) text += fmt::format(",grad_norm_layer{}", l);
  for (std::size_t l = 1; l <= layers; ++l) text += fmt::format(",weight_norm_layer{}", l);
  text += ",stop_reason\n";
  for (const EpochRecord& r : history) {
    text += fmt::format("{},{},{},{},{},{},{},{},{}", r.epoch, r.step, cell(r.train_loss),
                        cell(r.val_loss), cell(r.val_accuracy), cell(r.grad_norm), cell(r.lr),
                        cell(r.seconds), cell(r.samples_per_second));
    for (const auto* norms : {&r.layer_grad_norms, &r.layer_weight_norms}) {
      for (std::size_t l = 0; l < layers; ++l) {
        text += ',';
        if (l < norms->size()) text += cell((*norms)[l]);
      }
    }
    text += fmt::format(",{}\n", r.stop_reason ? to_string(*r.stop_reason) : "");
  }
  write_file_atomically(path, std::span<const char>(text.data(), text.size()));
}

}  // namespace descent
