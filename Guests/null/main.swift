// null: does nothing and exits 0 at once, printing nothing (the boot benchmark's guest).
import Ilwaco

@main
struct Null: Guest {
  static func run(_ arguments: Arguments) -> Int32 { 0 }
}
