"""Hand-written code snippets for the tokenizer corpus (written for tokenmill's tests)."""

CODE = {
    "python": [
        '''def fibonacci(n: int) -> list[int]:
    """Return the first n Fibonacci numbers."""
    if n <= 0:
        return []
    seq = [0, 1]
    while len(seq) < n:
        seq.append(seq[-1] + seq[-2])
    return seq[:n]


if __name__ == "__main__":
    print(fibonacci(10))
''',
        '''import json
from pathlib import Path


class Config:
    def __init__(self, path: Path):
        self.path = path
        self._data = {}

    def load(self):
        with open(self.path, encoding="utf-8") as f:
            self._data = json.load(f)
        return self

    def get(self, key, default=None):
        return self._data.get(key, default)
''',
        '''@dataclass(frozen=True)
class Point:
    x: float = 0.0
    y: float = 0.0

    def __add__(self, other: "Point") -> "Point":
        return Point(self.x + other.x, self.y + other.y)

points = [Point(i, i ** 2) for i in range(5)]
total = sum((p for p in points), start=Point())
print(f"{total=!r} {len(points):>4d} {3.14159:.2f}")
''',
        '''async def fetch_all(session, urls, *, limit=8):
    sem = asyncio.Semaphore(limit)

    async def one(url):
        async with sem:
            async with session.get(url) as resp:
                resp.raise_for_status()
                return await resp.text()

    return await asyncio.gather(*(one(u) for u in urls))
''',
        '''try:
    value = int(os.environ.get("WORKERS", "4"))
except ValueError as exc:  # noqa: PERF203
    raise SystemExit(f"bad WORKERS: {exc}") from exc
finally:
    logging.info("workers=%d", value)

lambda_sq = lambda x: x * x
matrix = [[0] * 3 for _ in range(3)]
assert matrix[1][2] == 0, 'matrix should start empty'
''',
    ],
    "c_cpp": [
        '''#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE\\n", argv[0]);
        return EXIT_FAILURE;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror("fopen"); return 1; }
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stdout);
    fclose(f);
    return 0;
}
''',
        '''template <typename T>
class RingBuffer {
 public:
  explicit RingBuffer(std::size_t capacity) : data_(capacity) {}

  bool push(const T& value) {
    if (size_ == data_.size()) return false;
    data_[(head_ + size_++) % data_.size()] = value;
    return true;
  }

  std::optional<T> pop() {
    if (size_ == 0) return std::nullopt;
    T v = std::move(data_[head_]);
    head_ = (head_ + 1) % data_.size();
    --size_;
    return v;
  }

 private:
  std::vector<T> data_;
  std::size_t head_ = 0, size_ = 0;
};
''',
        '''static inline uint32_t rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#ifndef NDEBUG
#  define LOG(...) fprintf(stderr, __VA_ARGS__)
#else
#  define LOG(...) ((void)0)
#endif

struct node { int key; struct node *left, *right; };
''',
        '''auto it = std::find_if(items.begin(), items.end(), [&](const Item& x) {
  return x.id == wanted && !x.deleted;
});
if (it != items.end()) {
  std::cout << "found " << it->name << " at " << std::distance(items.begin(), it) << '\\n';
}
std::unordered_map<std::string, std::vector<int>> index;
for (auto& [k, v] : index) v.shrink_to_fit();
constexpr double kPi = 3.141592653589793;
''',
    ],
    "js_ts": [
        '''export async function getUser(id) {
  const res = await fetch(`/api/users/${encodeURIComponent(id)}`);
  if (!res.ok) {
    throw new Error(`HTTP ${res.status}: ${res.statusText}`);
  }
  return res.json();
}

const users = await Promise.all(ids.map(getUser));
console.log(users.filter(u => u?.active ?? false).length);
''',
        '''interface Todo {
  id: number;
  title: string;
  done?: boolean;
}

type Filter = "all" | "open" | "done";

function visible(todos: Todo[], filter: Filter): Todo[] {
  switch (filter) {
    case "open": return todos.filter((t) => !t.done);
    case "done": return todos.filter((t) => t.done === true);
    default: return [...todos];
  }
}
''',
        '''document.querySelectorAll('button[data-action]').forEach((btn) => {
  btn.addEventListener('click', (ev) => {
    ev.preventDefault();
    const { action } = btn.dataset;
    state = reducer(state, { type: action, at: Date.now() });
    render();
  });
});
const re = /^\\s*(\\d{1,3})(?:\\.(\\d+))?\\s*$/u;
let x = 0b1010 | 0xff & ~7 >>> 2;
''',
        '''class EventEmitter<T extends Record<string, unknown[]>> {
  private handlers: { [K in keyof T]?: Array<(...args: T[K]) => void> } = {};

  on<K extends keyof T>(event: K, fn: (...args: T[K]) => void): () => void {
    (this.handlers[event] ??= []).push(fn);
    return () => this.off(event, fn);
  }
}
''',
    ],
    "rust": [
        '''use std::collections::HashMap;

fn word_counts(text: &str) -> HashMap<&str, usize> {
    let mut counts = HashMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word).or_insert(0) += 1;
    }
    counts
}

fn main() {
    let counts = word_counts("the cat and the hat");
    println!("{:?}", counts.get("the"));
}
''',
        '''#[derive(Debug, Clone, PartialEq)]
pub enum Token<'a> {
    Ident(&'a str),
    Number(f64),
    Punct(char),
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Result<Token<'a>, LexError>;

    fn next(&mut self) -> Option<Self::Item> {
        let c = self.peek()?;
        match c {
            'a'..='z' | 'A'..='Z' | '_' => Some(Ok(self.ident())),
            '0'..='9' => Some(self.number()),
            _ => { self.bump(); Some(Ok(Token::Punct(c))) }
        }
    }
}
''',
        '''pub async fn serve(listener: TcpListener) -> anyhow::Result<()> {
    loop {
        let (stream, addr) = listener.accept().await?;
        tokio::spawn(async move {
            if let Err(e) = handle(stream).await {
                eprintln!("{addr}: {e:#}");
            }
        });
    }
}
let v: Vec<u8> = (0..=255u8).rev().collect::<Vec<_>>();
''',
        '''unsafe impl Send for RawBuf {}

macro_rules! square {
    ($x:expr) => { $x * $x };
}

const MAX: usize = 1 << 20;
static GREETING: &str = r#"Hello, "world"!"#;
''',
    ],
    "go": [
        '''package main

import (
	"fmt"
	"net/http"
	"time"
)

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		fmt.Fprintln(w, "ok")
	})
	srv := &http.Server{Addr: ":8080", Handler: mux, ReadTimeout: 5 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		panic(err)
	}
}
''',
        '''type Cache[K comparable, V any] struct {
	mu    sync.Mutex
	items map[K]V
}

func (c *Cache[K, V]) Get(key K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.items[key]
	return v, ok
}
''',
        '''for i, line := range strings.Split(input, "\\n") {
	if strings.TrimSpace(line) == "" {
		continue
	}
	select {
	case out <- fmt.Sprintf("%04d: %s", i, line):
	case <-ctx.Done():
		return ctx.Err()
	}
}
''',
        '''var ErrNotFound = errors.New("not found")

func find(xs []int, want int) (int, error) {
	for i, x := range xs {
		if x == want {
			return i, nil
		}
	}
	return -1, fmt.Errorf("find %d: %w", want, ErrNotFound)
}
''',
    ],
    "sql": [
        '''SELECT u.id, u.name, COUNT(o.id) AS orders
FROM users AS u
LEFT JOIN orders AS o ON o.user_id = u.id
WHERE u.created_at >= '2024-01-01'
GROUP BY u.id, u.name
HAVING COUNT(o.id) > 3
ORDER BY orders DESC
LIMIT 10;
''',
        '''CREATE TABLE IF NOT EXISTS events (
    id          BIGSERIAL PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('click', 'view', 'purchase')),
    payload     JSONB DEFAULT '{}'::jsonb,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX events_tenant_created ON events (tenant_id, created_at DESC);
''',
        '''WITH RECURSIVE tree(id, parent, depth) AS (
  SELECT id, parent_id, 0 FROM nodes WHERE parent_id IS NULL
  UNION ALL
  SELECT n.id, n.parent_id, t.depth + 1
  FROM nodes n JOIN tree t ON n.parent_id = t.id
)
SELECT depth, count(*) FROM tree GROUP BY depth;
''',
        '''UPDATE accounts SET balance = balance - 100.00 WHERE id = 42;
INSERT INTO audit (account_id, delta, note) VALUES (42, -100.00, 'transfer #7781');
DELETE FROM sessions WHERE expires_at < CURRENT_TIMESTAMP;
-- remember: commit only after both rows are written
SELECT * FROM t WHERE name LIKE '%O''Brien%';
''',
    ],
    "shell": [
        '''#!/usr/bin/env bash
set -euo pipefail

for f in "$@"; do
  if [[ ! -f "$f" ]]; then
    echo "skip: $f" >&2
    continue
  fi
  wc -l -- "$f"
done
''',
        '''export PATH="$HOME/.local/bin:$PATH"
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
find . -name '*.log' -mtime +7 -print0 | xargs -0 rm -f
tar -czf "backup-$(date +%Y%m%d).tar.gz" data/ 2>/dev/null
grep -rn --include='*.py' 'TODO' src/ | sort | uniq -c | sort -rn | head -20
''',
        '''case "$1" in
  start) systemctl start app.service ;;
  stop)  systemctl stop app.service ;;
  *)     echo "usage: $0 {start|stop}"; exit 2 ;;
esac
ssh -o StrictHostKeyChecking=no deploy@10.0.0.5 'sudo journalctl -u app -n 50'
awk -F: '$3 >= 1000 { print $1 }' /etc/passwd
''',
        '''$ ls -la
total 24
drwxr-xr-x  4 user user 4096 Jan  5 10:22 .
drwxr-xr-x 18 user user 4096 Jan  5 09:01 ..
-rw-r--r--  1 user user  220 Jan  5 09:01 .bashrc
$ echo $?
0
PS C:\\Users\\dev> Get-ChildItem -Recurse | Where-Object { $_.Length -gt 1MB }
''',
    ],
}
