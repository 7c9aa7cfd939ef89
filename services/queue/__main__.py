from services.queue.main import main

main()
