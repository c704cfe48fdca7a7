#include "tokenizer/chat_template/lexer.h"

#include <charconv>
#include <cmath>
#include <cstring>

#include "tokenizer/chat_template/pystr.h"

namespace tmill::tok::jinja {

std::string describe_position(std::string_view source, size_t pos) {
  pos = std::min(pos, source.size());
  size_t line = 1, col = 1;
  for (size_t i = 0; i < pos; ++i) {
    if (source[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

namespace {

// What the end of the previous tag asks of the text that follows it.
enum class After { Nothing, TrimNewline, StripWhitespace };

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Lexer {
 public:
  explicit Lexer(std::string source) { r_.source = std::move(source); }

  Expected<LexResult> run() {
    const std::string& s = r_.source;
    size_t pos = 0;
    After after = After::Nothing;
    bool line_starting = true;
    while (true) {
      const size_t tag = find_tag(pos);
      std::string_view data(s.data() + pos, (tag == std::string::npos ? s.size() : tag) - pos);
      if (after == After::TrimNewline && !data.empty() && data[0] == '\n') {
        data.remove_prefix(1);
        line_starting = true;
      } else if (after == After::StripWhitespace) {
        const std::string_view rest = py_strip(data, nullptr, true, false);
        if (rest.size() != data.size()) line_starting = data[data.size() - rest.size() - 1] == '\n';
        data = rest;
      }
      if (tag == std::string::npos) {
        emit_text(data, pos);
        break;
      }
      const char kind = s[tag + 1];
      const char modifier = tag + 2 < s.size() ? s[tag + 2] : '\0';
      if (modifier == '-') {
        data = py_strip(data, nullptr, false, true);
      } else if (modifier != '+' && kind != '{') {  // lstrip_blocks
        const size_t nl = data.rfind('\n');
        const size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
        if (l_pos > 0 || line_starting) {
          bool blank = true;
          for (size_t i = l_pos; i < data.size() && blank; ++i)
            blank = data[i] == ' ' || data[i] == '\t';
          if (blank) data = data.substr(0, l_pos);
        }
      }
      emit_text(data, pos);
      line_starting = false;
      size_t p = tag + 2 + ((modifier == '-' || modifier == '+') ? 1 : 0);
      if (kind == '#') {
        const size_t end = s.find("#}", p);
        if (end == std::string::npos)
          return fail("template syntax error at ", describe_position(s, tag),
                      ": unclosed comment (missing '#}')");
        const char before = end > p ? s[end - 1] : '\0';
        after = before == '-'   ? After::StripWhitespace
                : before == '+' ? After::Nothing
                                : After::TrimNewline;
        pos = end + 2;
        continue;
      }
      const bool block = kind == '%';
      r_.tokens.push_back({block ? Tok::BlockBegin : Tok::VarBegin, "", 0, 0, tag});
      const size_t first_token = r_.tokens.size();
      TM_ASSIGN(After tag_after, lex_expression(p, block, tag));
      after = tag_after;
      // {% raw %} ... {% endraw %}: the body is text.
      if (block && r_.tokens.size() == first_token + 2 &&
          r_.tokens[first_token].kind == Tok::Name && r_.tokens[first_token].text == "raw") {
        r_.tokens.resize(first_token - 1);
        TM_ASSIGN(size_t next, lex_raw(p, tag, after));
        p = next;
      }
      pos = p;
    }
    r_.tokens.push_back({Tok::Eof, "", 0, 0, s.size()});
    return std::move(r_);
  }

 private:
  size_t find_tag(size_t from) const {
    const std::string& s = r_.source;
    for (size_t i = s.find('{', from); i != std::string::npos; i = s.find('{', i + 1)) {
      if (i + 1 < s.size() && (s[i + 1] == '{' || s[i + 1] == '%' || s[i + 1] == '#')) return i;
    }
    return std::string::npos;
  }

  void emit_text(std::string_view data, size_t pos) {
    if (!data.empty()) r_.tokens.push_back({Tok::Text, std::string(data), 0, 0, pos});
  }

  Error error_at(size_t pos, const std::string& what) const {
    return fail("template syntax error at ", describe_position(r_.source, pos), ": ", what);
  }

  // Lexes expression tokens from p up to the tag's end; p is left after the end delimiter.
  Expected<After> lex_expression(size_t& p, bool block, size_t tag_pos) {
    const std::string& s = r_.source;
    int depth = 0;
    while (true) {
      while (p < s.size() && is_ascii_space(s[p])) ++p;
      if (p >= s.size())
        return error_at(tag_pos, block ? "unclosed block tag (missing '%}')"
                                       : "unclosed variable tag (missing '}}')");
      if (block) {
        if (s.compare(p, 2, "%}") == 0) {
          p += 2;
          r_.tokens.push_back({Tok::BlockEnd, "", 0, 0, p - 2});
          return After::TrimNewline;
        }
        if ((s[p] == '-' || s[p] == '+') && s.compare(p + 1, 2, "%}") == 0) {
          const char m = s[p];
          p += 3;
          r_.tokens.push_back({Tok::BlockEnd, "", 0, 0, p - 3});
          return m == '-' ? After::StripWhitespace : After::Nothing;
        }
      } else if (depth == 0) {
        if (s.compare(p, 2, "}}") == 0) {
          p += 2;
          r_.tokens.push_back({Tok::VarEnd, "", 0, 0, p - 2});
          return After::Nothing;
        }
        if (s[p] == '-' && s.compare(p + 1, 2, "}}") == 0) {
          p += 3;
          r_.tokens.push_back({Tok::VarEnd, "", 0, 0, p - 3});
          return After::StripWhitespace;
        }
      }
      const size_t start = p;
      const char c = s[p];
      if (is_name_start(c)) {
        while (p < s.size() && is_name_char(s[p])) ++p;
        r_.tokens.push_back({Tok::Name, s.substr(start, p - start), 0, 0, start});
        continue;
      }
      if (is_digit(c)) {
        TM_TRY(lex_number(p));
        continue;
      }
      if (c == '\'' || c == '"') {
        TM_TRY(lex_string(p));
        continue;
      }
      static const char* const kTwo[] = {"//", "**", "==", "!=", "<=", ">="};
      bool matched = false;
      for (const char* op : kTwo) {
        if (s.compare(p, 2, op) == 0) {
          r_.tokens.push_back({Tok::Op, op, 0, 0, start});
          p += 2;
          matched = true;
          break;
        }
      }
      if (matched) continue;
      if (std::strchr("+-*/%~()[]{},.:|=<>", c) != nullptr && c != '\0') {
        if (c == '(' || c == '[' || c == '{') ++depth;
        if (c == ')' || c == ']' || c == '}') --depth;
        r_.tokens.push_back({Tok::Op, std::string(1, c), 0, 0, start});
        ++p;
        continue;
      }
      return error_at(start, std::string("unexpected character '") + c + "'");
    }
  }

  Status lex_number(size_t& p) {
    const std::string& s = r_.source;
    const size_t start = p;
    std::string digits;
    auto take_digits = [&] {
      while (p < s.size() && (is_digit(s[p]) || (s[p] == '_' && p + 1 < s.size() &&
                                                 is_digit(s[p + 1]) && p > start))) {
        if (s[p] != '_') digits += s[p];
        ++p;
      }
    };
    take_digits();
    // After '.', a number is an integer (attribute index like `foo.0`), as in Jinja.
    const bool after_dot = !r_.tokens.empty() && r_.tokens.back().kind == Tok::Op &&
                           r_.tokens.back().text == "." && r_.tokens.back().pos + 1 == start;
    bool is_float = false;
    if (!after_dot && p + 1 < s.size() && s[p] == '.' && is_digit(s[p + 1])) {
      is_float = true;
      digits += '.';
      ++p;
      take_digits();
    }
    if (!after_dot && p < s.size() && (s[p] == 'e' || s[p] == 'E')) {
      size_t q = p + 1;
      if (q < s.size() && (s[q] == '+' || s[q] == '-')) ++q;
      if (q < s.size() && is_digit(s[q])) {
        is_float = true;
        digits += 'e';
        digits.append(s, p + 1, q - p - 1);
        p = q;
        take_digits();
      }
    }
    Token t{is_float ? Tok::Float : Tok::Int, s.substr(start, p - start), 0, 0, start};
    if (is_float) {
      auto res = std::from_chars(digits.data(), digits.data() + digits.size(), t.float_value);
      if (res.ec == std::errc::result_out_of_range)
        t.float_value = digits.find("e-") != std::string::npos ? 0.0 : HUGE_VAL;
      else if (res.ec != std::errc())
        return error_at(start, "malformed number");
    } else {
      auto res = std::from_chars(digits.data(), digits.data() + digits.size(), t.int_value);
      if (res.ec != std::errc()) return error_at(start, "integer literal is too large");
    }
    r_.tokens.push_back(std::move(t));
    return {};
  }

  Status lex_string(size_t& p) {
    const std::string& s = r_.source;
    const size_t start = p;
    const char quote = s[p++];
    std::string out;
    while (true) {
      if (p >= s.size()) return error_at(start, "unterminated string literal");
      const char c = s[p];
      if (c == quote) {
        ++p;
        break;
      }
      if (c != '\\') {
        out += c;
        ++p;
        continue;
      }
      if (p + 1 >= s.size()) return error_at(start, "unterminated string literal");
      const char e = s[p + 1];
      p += 2;
      switch (e) {
        case '\n':
          break;
        case '\\':
        case '\'':
        case '"':
          out += e;
          break;
        case 'a':
          out += '\a';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'v':
          out += '\v';
          break;
        case 'x':
        case 'u':
        case 'U': {
          const int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          uint32_t cp = 0;
          for (int k = 0; k < n; ++k) {
            const int h = p < s.size() ? hex_value(s[p]) : -1;
            if (h < 0) return error_at(p, "truncated \\" + std::string(1, e) + " escape");
            cp = cp * 16 + static_cast<uint32_t>(h);
            ++p;
          }
          if (cp > 0x10FFFF) return error_at(p, "illegal Unicode character in escape");
          append_utf8(out, cp);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            uint32_t cp = static_cast<uint32_t>(e - '0');
            for (int k = 0; k < 2 && p < s.size() && s[p] >= '0' && s[p] <= '7'; ++k, ++p)
              cp = cp * 8 + static_cast<uint32_t>(s[p] - '0');
            append_utf8(out, cp);
          } else {
            out += '\\';
            out += e;
          }
      }
    }
    r_.tokens.push_back({Tok::String, std::move(out), 0, 0, start});
    return {};
  }

  // Body of {% raw %}: text up to {% endraw %}. Returns the position after the end tag.
  Expected<size_t> lex_raw(size_t p, size_t tag_pos, After& after) {
    const std::string& s = r_.source;
    for (size_t i = s.find("{%", p); i != std::string::npos; i = s.find("{%", i + 2)) {
      size_t q = i + 2;
      const char open_mod = q < s.size() ? s[q] : '\0';
      if (open_mod == '-' || open_mod == '+') ++q;
      while (q < s.size() && is_ascii_space(s[q])) ++q;
      if (s.compare(q, 6, "endraw") != 0) continue;
      q += 6;
      while (q < s.size() && is_ascii_space(s[q])) ++q;
      char close_mod = '\0';
      if (q < s.size() && (s[q] == '-' || s[q] == '+')) close_mod = s[q++];
      if (s.compare(q, 2, "%}") != 0) continue;
      std::string_view body(s.data() + p, i - p);
      if (after == After::StripWhitespace) body = py_strip(body, nullptr, true, false);
      if (open_mod == '-') body = py_strip(body, nullptr, false, true);
      emit_text(body, p);
      after = close_mod == '-'   ? After::StripWhitespace
              : close_mod == '+' ? After::Nothing
                                 : After::TrimNewline;
      return q + 2;
    }
    return error_at(tag_pos, "unclosed raw block (missing '{% endraw %}')");
  }

  LexResult r_;
};

}  // namespace

Expected<LexResult> lex(std::string_view text) {
  std::string normalized;
  normalized.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      normalized += '\n';
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else {
      normalized += text[i];
    }
  }
  if (!normalized.empty() && normalized.back() == '\n') normalized.pop_back();
  return Lexer(std::move(normalized)).run();
}

}  // namespace tmill::tok::jinja
