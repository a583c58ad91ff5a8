#include "store/postgres/sql_catalog.h"

#include <cstdlib>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "embedded/postgres_migrations.h"
#include "embedded/postgres_sql.h"
#include "store/registry.h"

namespace popqueue::store::postgres {
namespace {

constexpr size_t kMaxIdentifier = 63;  // NAMEDATALEN - 1

absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

std::string QuoteIdentifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

absl::StatusOr<std::string> RenderSql(std::string_view text, std::string_view collection) {
  std::string out;
  out.reserve(text.size() + 256);
  size_t pos = 0;
  while (true) {
    size_t open = text.find("{{", pos);
    if (open == std::string_view::npos) break;
    size_t close = text.find("}}", open);
    if (close == std::string_view::npos) {
      return absl::InternalError("unterminated {{ in embedded SQL");
    }
    std::string_view key = text.substr(open + 2, close - open - 2);
    if (key.substr(0, 5) != "table" || (key.size() > 5 && key[5] != '_')) {
      return absl::InternalError(
          absl::StrCat("unknown placeholder {{", AbslView(key), "}} in embedded SQL"));
    }
    std::string name = absl::StrCat(AbslView(collection), AbslView(key.substr(5)));
    if (name.size() > kMaxIdentifier) {
      return absl::InvalidArgumentError(
          absl::StrCat("collection \"", AbslView(collection),
                       "\" is too long for PostgreSQL: the derived name \"", name,
                       "\" exceeds 63 bytes; use a name of at most ",
                       kMaxIdentifier - (key.size() - 5), " characters"));
    }
    out.append(text.substr(pos, open - pos));
    out += QuoteIdentifier(name);
    pos = close + 2;
  }
  out.append(text.substr(pos));
  return out;
}

absl::StatusOr<SqlCatalog> SqlCatalog::Create(std::string_view collection) {
  if (absl::Status s = ValidateIdentifierName("collection", collection); !s.ok()) {
    return s;
  }
  SqlCatalog c;
  c.collection_ = std::string(collection);
  c.channel_ = absl::StrCat("popqueue_", AbslView(collection));
  for (std::string_view file : embedded::postgres_sql_names()) {
    absl::StatusOr<std::string> sql = RenderSql(embedded::postgres_sql(file), collection);
    if (!sql.ok()) return sql.status();
    std::string_view stem = file.substr(0, file.rfind(".sql"));
    c.queries_.emplace(std::string(stem), *std::move(sql));
  }
  for (std::string_view file : embedded::postgres_migrations_names()) {
    Migration m;
    m.name = std::string(file);
    if (!absl::SimpleAtoi(AbslView(file.substr(0, file.find('_'))), &m.version) || m.version <= 0) {
      return absl::InternalError(
          absl::StrCat("migration file \"", m.name, "\" does not start with NNN_"));
    }
    absl::StatusOr<std::string> sql = RenderSql(embedded::postgres_migrations(file), collection);
    if (!sql.ok()) return sql.status();
    m.sql = *std::move(sql);
    c.migrations_.push_back(std::move(m));
  }
  return c;
}

const std::string& SqlCatalog::Query(std::string_view name) const {
  auto it = queries_.find(name);
  if (it == queries_.end()) {
    std::cerr << "popqueue: no embedded PostgreSQL statement sql/" << name << ".sql\n";
    std::abort();
  }
  return it->second;
}

int64_t SqlCatalog::LockKey(std::string_view purpose) const {
  // FNV-1a over "popqueue:<collection>:<purpose>".
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](std::string_view s) {
    for (unsigned char ch : s) {
      h ^= ch;
      h *= 1099511628211ULL;
    }
  };
  mix("popqueue:");
  mix(collection_);
  mix(":");
  mix(purpose);
  return static_cast<int64_t>(h);
}

}  // namespace popqueue::store::postgres
