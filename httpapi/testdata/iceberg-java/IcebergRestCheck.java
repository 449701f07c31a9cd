// Apache Iceberg's Java REST client (iceberg-core 1.12.0, RESTCatalog: the
// client inside Spark's and Trino's "rest" catalogs) against Zombi's
// read-only Iceberg REST catalog.
//
// usage: java -cp CLASSPATH IcebergRestCheck.java URI [PROPERTY=VALUE ...]
// Prints one JSON object for the Go test (httpapi/iceberg_catalog_test.go).

import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.iceberg.FileScanTask;
import org.apache.iceberg.HasTableOperations;
import org.apache.iceberg.Schema;
import org.apache.iceberg.Table;
import org.apache.iceberg.catalog.Namespace;
import org.apache.iceberg.catalog.TableIdentifier;
import org.apache.iceberg.io.CloseableIterable;
import org.apache.iceberg.rest.RESTCatalog;
import org.apache.iceberg.types.Types;

public class IcebergRestCheck {
  interface Action {
    void run() throws Exception;
  }

  static String attempt(Action a) {
    try {
      a.run();
      return "done";
    } catch (Exception e) {
      return e.getClass().getSimpleName() + ": " + e.getMessage();
    }
  }

  public static void main(String[] args) throws Exception {
    Map<String, String> props = new TreeMap<>();
    props.put("uri", args[0]);
    for (int i = 1; i < args.length; i++) {
      String[] kv = args[i].split("=", 2);
      props.put(kv[0], kv[1]);
    }
    Map<String, Object> out = new LinkedHashMap<>();
    try (RESTCatalog cat = new RESTCatalog()) {
      cat.initialize("zombi", props);
      Namespace ns = Namespace.of("zombi");
      List<String> nss = new ArrayList<>();
      cat.listNamespaces().forEach(n -> nss.add(n.toString()));
      out.put("namespaces", nss);
      out.put("namespace_exists", cat.namespaceExists(ns));
      out.put("other_namespace_exists", cat.namespaceExists(Namespace.of("other")));
      List<String> tables = new ArrayList<>();
      cat.listTables(ns).forEach(t -> tables.add(t.toString()));
      out.put("tables", tables);
      TableIdentifier orders = TableIdentifier.of(ns, "orders");
      out.put("table_exists", cat.tableExists(orders));
      out.put("missing_table_exists", cat.tableExists(TableIdentifier.of(ns, "nosuch")));

      Table t = cat.loadTable(orders);
      out.put("metadata_location", ((HasTableOperations) t).operations().current().metadataFileLocation());
      out.put("location", t.location());
      out.put("snapshots", t.snapshots() == null ? 0 : ((List<?>) iterList(t.snapshots())).size());
      out.put("current_snapshot_id", String.valueOf(t.currentSnapshot().snapshotId()));
      out.put("zombi_offsets", t.currentSnapshot().summary().get("zombi.offsets"));
      Map<String, Integer> ids = new LinkedHashMap<>();
      Schema sc = t.schema();
      for (Types.NestedField f : sc.columns()) {
        ids.put(f.name(), f.fieldId());
      }
      out.put("field_ids", ids);
      if (!"false".equals(System.getProperty("scan"))) {
        // Planning reads the manifest list and manifests through the
        // table's FileIO (S3FileIO with the catalog's settings).
        long files = 0, records = 0;
        try (CloseableIterable<FileScanTask> tasks = t.newScan().planFiles()) {
          for (FileScanTask task : tasks) {
            files++;
            records += task.file().recordCount();
          }
        }
        out.put("scan_files", files);
        out.put("scan_records", records);
      }
      out.put("missing_table", attempt(() -> cat.loadTable(TableIdentifier.of(ns, "nosuch"))));
      out.put("create_namespace", attempt(() -> cat.createNamespace(Namespace.of("new"))));
      out.put("create_table", attempt(() -> cat.createTable(TableIdentifier.of(ns, "new"),
          new Schema(Types.NestedField.required(1, "x", Types.StringType.get())))));
      out.put("drop_table", attempt(() -> cat.dropTable(orders)));
      out.put("rename_table", attempt(() -> cat.renameTable(orders, TableIdentifier.of(ns, "o2"))));
    }
    System.out.println(new ObjectMapper().writeValueAsString(out));
  }

  static List<Object> iterList(Iterable<?> it) {
    List<Object> l = new ArrayList<>();
    it.forEach(l::add);
    return l;
  }
}
