"""The schema compiler: load -> validate -> model -> render -> write, one module per stage."""
