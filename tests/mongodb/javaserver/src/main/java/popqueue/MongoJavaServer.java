// Starts mongo-java-server on 127.0.0.1:PORT. Usage:
//   MongoJavaServer PORT memory        (data lives as long as the process)
//   MongoJavaServer PORT h2 FILE       (H2 MVStore file: survives a restart)
package popqueue;

import de.bwaldvogel.mongo.MongoBackend;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;

public final class MongoJavaServer {
  public static void main(String[] args) {
    if (args.length < 2 || (args[1].equals("h2") && args.length < 3)) {
      System.err.println("usage: MongoJavaServer PORT memory | PORT h2 FILE");
      System.exit(2);
    }
    MongoBackend backend = switch (args[1]) {
      case "memory" -> new MemoryBackend();
      case "h2" -> new H2Backend(args[2]);
      default -> throw new IllegalArgumentException("backend: memory or h2, not " + args[1]);
    };
    MongoServer server = new MongoServer(backend);
    server.bind("127.0.0.1", Integer.parseInt(args[0]));
    Runtime.getRuntime().addShutdownHook(new Thread(server::shutdown));
    System.out.println("mongo-java-server " + args[1] + " on 127.0.0.1:" + args[0]);
  }
}
