from demo.stack import main

main()
