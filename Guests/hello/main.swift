// hello: prints "hello from denali" and its arguments on one line, exits 0.
import Ilwaco

@main
struct Hello: Guest {
  static func run(_ arguments: Arguments) -> Int32 {
    Console.print("hello from denali")
    for argument in arguments {
      Console.print(" ")
      Console.print(argument)
    }
    Console.print("\n")
    return 0
  }
}
