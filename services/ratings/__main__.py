from services.ratings.main import main

main()
