#include "common/url.h"

// Debian's Abseil has its own absl::string_view (not absl::string_view), so
// this file works in absl::string_view and converts at the API boundary.

#include <cctype>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace popqueue {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Hides the password of a raw URL string for error messages, before parsing
// has succeeded.
std::string RedactRaw(absl::string_view url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == absl::string_view::npos) return std::string(url);
  size_t at = url.find('@', scheme_end + 3);
  size_t colon = url.find(':', scheme_end + 3);
  if (at == absl::string_view::npos || colon == absl::string_view::npos || colon > at) {
    return std::string(url);
  }
  return absl::StrCat(url.substr(0, colon + 1), "***", url.substr(at));
}

absl::Status Invalid(absl::string_view url, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("invalid URL \"", RedactRaw(url), "\": ", why));
}

// One "host[:port]" (or "[v6]:port") of an authority.
absl::StatusOr<UrlHost> ParseHost(absl::string_view authority) {
  UrlHost out;
  absl::string_view port;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError("unclosed '[' in host");
    }
    out.host = std::string(authority.substr(1, close - 1));
    absl::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return absl::InvalidArgumentError("unexpected text after ']'");
      }
      port = after.substr(1);
      has_port = true;
    }
  } else {
    size_t colon = authority.rfind(':');
    if (colon != absl::string_view::npos) {
      port = authority.substr(colon + 1);
      authority = authority.substr(0, colon);
      has_port = true;
    }
    out.host = std::string(authority);
  }
  if (has_port &&
      (port.empty() || !absl::SimpleAtoi(port, &out.port) || out.port < 1 || out.port > 65535)) {
    return absl::InvalidArgumentError("the port must be a number from 1 to 65535");
  }
  for (char c : out.host) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_' &&
        c != ':' && c != '%') {
      return absl::InvalidArgumentError("the host has an invalid character");
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> PercentDecode(std::string_view std_in) {
  absl::string_view in(std_in.data(), std_in.size());
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size() || HexValue(in[i + 1]) < 0 || HexValue(in[i + 2]) < 0) {
      return absl::InvalidArgumentError(absl::StrCat("malformed percent-escape at offset ", i));
    }
    out.push_back(static_cast<char>(HexValue(in[i + 1]) * 16 + HexValue(in[i + 2])));
    i += 2;
  }
  return out;
}

std::string Url::Redacted() const {
  std::string out = absl::StrCat(scheme, "://");
  if (!user.empty() || !password.empty()) {
    absl::StrAppend(&out, user, password.empty() ? "" : ":***", "@");
  }
  std::vector<UrlHost> all = hosts;
  if (all.empty()) all.push_back({.host = host, .port = port});
  for (size_t i = 0; i < all.size(); ++i) {
    if (i > 0) absl::StrAppend(&out, ",");
    if (all[i].host.find(':') != std::string::npos) {
      absl::StrAppend(&out, "[", all[i].host, "]");
    } else {
      absl::StrAppend(&out, all[i].host);
    }
    if (all[i].port != 0) absl::StrAppend(&out, ":", all[i].port);
  }
  absl::StrAppend(&out, path);
  char sep = '?';
  for (const auto& [k, v] : query) {
    absl::StrAppend(&out, std::string(1, sep), k, "=", v);
    sep = '&';
  }
  return out;
}

absl::StatusOr<Url> ParseUrl(std::string_view std_url) {
  absl::string_view url(std_url.data(), std_url.size());
  if (url.empty()) return Invalid(url, "it is empty");
  for (char c : url) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return Invalid(url, "it contains a control character");
    }
  }
  size_t scheme_end = url.find("://");
  if (scheme_end == absl::string_view::npos || scheme_end == 0) {
    return Invalid(url, "expected scheme://..., e.g. sqlite://./popqueue.db");
  }
  Url out;
  out.scheme = absl::AsciiStrToLower(url.substr(0, scheme_end));
  for (char c : out.scheme) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') {
      return Invalid(url, "the scheme has characters other than a-z 0-9 + - .");
    }
  }
  absl::string_view rest = url.substr(scheme_end + 3);

  // Split off the query first.
  absl::string_view query;
  if (size_t q = rest.find('?'); q != absl::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (!query.empty()) {
    for (absl::string_view pair : absl::StrSplit(query, '&', absl::SkipEmpty())) {
      size_t eq = pair.find('=');
      absl::string_view k = pair.substr(0, eq);
      absl::string_view v =
          eq == absl::string_view::npos ? absl::string_view() : pair.substr(eq + 1);
      auto dk = PercentDecode(std::string_view(k.data(), k.size()));
      auto dv = PercentDecode(std::string_view(v.data(), v.size()));
      if (!dk.ok() || !dv.ok()) return Invalid(url, "malformed query escape");
      if (dk->empty()) return Invalid(url, "a query parameter has no name");
      out.query[*dk] = *dv;
    }
  }

  if (out.scheme == "sqlite") {
    if (rest.empty()) {
      return Invalid(url, "sqlite URLs need a path, e.g. sqlite://./popqueue.db");
    }
    auto path = PercentDecode(std::string_view(rest.data(), rest.size()));
    if (!path.ok()) return Invalid(url, path.status().message());
    out.path = *path;
    return out;
  }

  absl::string_view authority = rest;
  if (size_t slash = rest.find('/'); slash != absl::string_view::npos) {
    authority = rest.substr(0, slash);
    absl::string_view p = rest.substr(slash);
    auto path = PercentDecode(std::string_view(p.data(), p.size()));
    if (!path.ok()) return Invalid(url, path.status().message());
    out.path = *path;
  }
  if (size_t at = authority.rfind('@'); at != absl::string_view::npos) {
    absl::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    absl::string_view user = userinfo, pass;
    if (size_t colon = userinfo.find(':'); colon != absl::string_view::npos) {
      user = userinfo.substr(0, colon);
      pass = userinfo.substr(colon + 1);
    }
    auto du = PercentDecode(std::string_view(user.data(), user.size()));
    auto dp = PercentDecode(std::string_view(pass.data(), pass.size()));
    if (!du.ok() || !dp.ok()) return Invalid(url, "malformed escape in user info");
    out.user = *du;
    out.password = *dp;
  }
  if (authority.empty()) {
    out.hosts.push_back({});
  } else {
    for (absl::string_view one : absl::StrSplit(authority, ',')) {
      if (one.empty()) return Invalid(url, "the host list has an empty entry");
      absl::StatusOr<UrlHost> h = ParseHost(one);
      if (!h.ok()) return Invalid(url, h.status().message());
      out.hosts.push_back(*std::move(h));
    }
  }
  out.host = out.hosts[0].host;
  out.port = out.hosts[0].port;
  return out;
}

}  // namespace popqueue
